from bria_pipeline.cli import main

if __name__ == "__main__":  # pragma: no cover
    # Named as the installed script, so help, usage lines and completion read the same either way.
    main(prog_name="bria-pipeline")
