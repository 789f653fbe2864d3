"""Generation outputs: what the spec asks for, keyed and named, planned against the manifest.

    expand_outputs(gen, models)                                                   outputs.py (pure)
    plan_generation(gen, models, manifest, lock_structured_prompts, prune=...)  planning.py (pure)

The steps planned here are carried out by the one executor (apply/executor.py,
apply/output_steps.py); the manifest is state (state/manifest.py); the gallery and the review
sheet are reports (reports/).
"""
