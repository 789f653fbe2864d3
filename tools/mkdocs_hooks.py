"""MkDocs hook: fills each `<!-- generated: NAME -->` marker with the part tools/docs_reference.py
makes from the code and the schemas (the CLI, environment variables, exit codes, the spec, the plan
document), at every build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docs_reference  # noqa: E402


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return docs_reference.expand(markdown)
