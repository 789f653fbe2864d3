"""Code blocks of the documentation (docs/**/*.md and README.md), with the marker before each.

A marker is an HTML comment on the last non-blank line before a fence, invisible on the page:

    <!-- illustrative: REASON -->        not run: REASON says why (a real token, a browser, ...)
    <!-- file: PATH -->                  a YAML block: written to PATH in the test workspace (a spec
                                         written there is validated), before the blocks after it run
    <!-- spec-fragment: KEY.PATH -->     a YAML block: part of a spec, merged under KEY.PATH (or at
                                         the top without a path) into the quickstart's spec, validated

Without a marker, a shell block (bash, sh, shell, console) runs line by line in the workspace
against the sandbox, and a YAML block is a spec fragment merged at the top of the quickstart's spec
(a whole spec when it has `version:`) and validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHELL = {"bash", "sh", "shell", "console"}
YAML = {"yaml", "yml"}
OPEN = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)[^\n`]*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>illustrative|file|spec-fragment)\s*:?\s*(?P<arg>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    marker: str | None  # illustrative, file, spec-fragment or None
    arg: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def shell(self) -> bool:
        return self.lang in SHELL

    @property
    def yaml(self) -> bool:
        return self.lang in YAML


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match.group("indent"), match.group("fence"), match.group("lang").lower()
        j = i + 1
        while j < len(lines) and not re.match(rf"^{indent}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[j]):
            j += 1
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:j])
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = MARKER.match(lines[k]) if k >= 0 else None
        found.append(Block(page, i + 1, lang, body + "\n", marker.group("kind") if marker else None,
                           marker.group("arg") if marker else ""))
        i = j + 1
    return found


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def commands(block: Block) -> list[str]:
    """A shell block's commands: one per line, backslash continuations joined, comments dropped."""
    out: list[str] = []
    pending = ""
    for raw in block.body.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        stripped = line.strip()
        if stripped.startswith("$ "):
            stripped = stripped[2:]
        if stripped and not stripped.startswith("#"):
            out.append(stripped)
    return out
