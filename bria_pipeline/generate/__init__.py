"""Generation outputs: plan them against the manifest, run them, show them.

    plan_generation(gen, models, manifest, lock_structured_prompts, prune=...)  planning.py (pure)
    run_generation(actions, client, manifest, output_dir, ...)                    runner.py
    Manifest.load(output_dir)                                                     manifest.py
    write_gallery(output_dir, manifest)                                           gallery.py
    write_review_sheet(path, dataset_view)                                        review.py
"""
