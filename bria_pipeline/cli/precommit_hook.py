"""The pre-commit hook: `bria-pipeline validate` on the changed files that are bria-pipeline specs.

    python -m bria_pipeline.cli.precommit_hook [validate options] FILE...

pre-commit hands over every changed YAML file. A file is validated only when it reads like a
spec (top-level ``version:`` and ``project:`` keys, as `validate DIR` decides); any other YAML
(an OpenAPI document, a CI workflow, a var file) is skipped with a note. Options before the files
(``--var-file``, ``--var``, ``--allow-outside``, ``--format``) go to validate. Validation writes
nothing into the repository: the image facts cache is in the user cache directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .spec_discovery import LOCK_SUFFIXES, SUFFIXES, is_spec_file

_TAKES_VALUE = {"--var", "--var-file", "--cache-dir", "--format"}


def split_arguments(argv: list[str]) -> tuple[list[str], list[Path], list[Path]]:
    """(options for validate, spec files, other files) from the hook's command line."""
    options: list[str] = []
    specs: list[Path] = []
    others: list[Path] = []
    expect_value = False
    for arg in argv:
        if expect_value:
            options.append(arg)
            expect_value = False
        elif arg.startswith("-"):
            options.append(arg)
            expect_value = arg in _TAKES_VALUE
        else:
            path = Path(arg)
            name = path.name.lower()
            spec = name.endswith(SUFFIXES) and not name.endswith(LOCK_SUFFIXES) and is_spec_file(path)
            (specs if spec else others).append(path)
    return options, specs, others


def main(argv: list[str] | None = None) -> int:
    options, specs, others = split_arguments(list(sys.argv[1:] if argv is None else argv))
    for path in others:
        click.echo(f"skipped {path}: not a bria-pipeline spec (no top-level version: and project: keys)")
    if not specs:
        return 0
    from . import main as cli

    try:
        cli.main(["validate", *options, *map(str, specs)], prog_name="bria-pipeline")
    except SystemExit as exc:  # click ends every run this way
        return exc.code if isinstance(exc.code, int) else 1
    return 0

if __name__ == "__main__":
    sys.exit(main())
