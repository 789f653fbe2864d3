"""Generation outputs: what the spec asks for, named and keyed, planned against the manifest.

    plan_generation(gen, models, manifest, lock_structured_prompts, prune=...)  planning.py (pure)
    Manifest.load(output_dir)                                                     manifest.py
    write_gallery(output_dir, manifest)                                           gallery.py
    write_review_sheet(path, dataset_view)                                        review.py

The steps planned here are carried out by the one executor (apply/executor.py, apply/output_steps.py).
"""
