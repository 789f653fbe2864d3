"""Reading a YAML file into a `Document`, refusing what would surprise later.

Checks before parsing: a regular file (not a FIFO, a device, a directory; a symbolic link only
to a file inside the folder the caller names), size (1 MiB, read no further), UTF-8, a tab in
indentation, an empty file.
While parsing: one document only, duplicate keys, keys that are not plain scalars, custom tags,
alias expansion beyond a budget (a "billion laughs" file is refused, not expanded).

Scalars resolve as in YAML 1.2's core schema, not PyYAML's YAML 1.1 defaults, because the 1.1
rules quietly mangle values a spec writes: ``16:9`` would be the integer 969 (base 60), ``no``
and ``on`` would be booleans, ``1e-4`` a string and ``2024-01-01`` a date. Here only
``true``/``false`` are booleans, ``null``/``~``/empty are null, numbers are decimal (or ``0x``,
``0o``), ``1e-4`` is a float, and everything else is a string.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bria_pipeline.confined import UnsafeFile, read_regular
from bria_pipeline.spec.document import Document
from bria_pipeline.spec.problems import SpecPath, SpecProblem, format_path

MAX_SPEC_BYTES = 1024 * 1024  # a spec or var file larger than this is refused
MAX_NODES = 200_000  # values after alias expansion


try:  # libyaml's parser is several times faster; the resolver below is Python either way
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class SpecLoader(_BaseLoader):
    """SafeLoader with YAML 1.2 core scalar resolution (see the module docstring)."""

    yaml_implicit_resolvers: dict = {}


def _resolver(tag: str, pattern: str, first: str) -> None:
    SpecLoader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))


_resolver("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN")
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_resolver("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolver(
    "tag:yaml.org,2002:float",
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    "-+0123456789.",
)
_resolver("tag:yaml.org,2002:merge", r"^(?:<<)$", "<")

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _construct_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _construct_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


class _Builder:
    """Walks composed nodes into plain data, recording marks and refusing surprises."""

    def __init__(self, loader: Any, doc: Document, problems: list[SpecProblem]) -> None:
        self.loader = loader
        self.doc = doc
        self.problems = problems
        self.budget = MAX_NODES

    def _at(self, mark: Any, path: SpecPath, message: str, hint: str | None = None) -> None:
        self.problems.append(
            SpecProblem(self.doc.file, mark.line + 1, mark.column + 1, format_path(path), message, hint)
        )

    def build(self, node: yaml.Node, path: SpecPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            if self.budget == -1:  # reported once, at the top-level section being expanded
                line, col = self.doc.marks.get(path[:1], (node.start_mark.line + 1, node.start_mark.column + 1))
                self.problems.append(SpecProblem(
                    self.doc.file, line, col, format_path(path[:1]),
                    f"the file expands to more than {MAX_NODES} values",
                    "anchors and aliases (& and *) nested inside each other multiply; write the values out",
                ))
            return None
        self.doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and path in self.doc.key_marks:
            # a block map or list starts on the line after its key: problems about the whole
            # collection ("missing required key", "needs at least 5") point at the key instead
            self.doc.marks[path] = self.doc.key_marks[path]
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag not in ("tag:yaml.org,2002:seq",):
                self._tag(node, path)
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        return None  # pragma: no cover - no other node kinds exist

    def _tag(self, node: yaml.Node, path: SpecPath) -> None:
        self._at(
            node.start_mark,
            path,
            f"the YAML tag {node.tag!r} is not allowed in a spec",
            "remove the tag (the !… before the value); a spec holds plain strings, numbers, lists and maps",
        )

    def _scalar(self, node: yaml.ScalarNode, path: SpecPath) -> Any:
        if node.style in ("|", ">"):
            self.doc.block_scalars.add(path)
        tag = node.tag
        text = node.value
        if tag == "tag:yaml.org,2002:str":
            return text
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return text.lower() == "true"
        if tag == _INT_TAG:
            try:
                return _construct_int(text)
            except ValueError:
                self._at(node.start_mark, path, f"{text!r} is not an integer")
                return None
        if tag == _FLOAT_TAG:
            try:
                return _construct_float(text)
            except ValueError:
                self._at(node.start_mark, path, f"{text!r} is not a number")
                return None
        self._tag(node, path)
        return None

    def _mapping(self, node: yaml.MappingNode, path: SpecPath) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            self._tag(node, path)
        out: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                value = self.build(value_node, path + ("<<",))
                sources = value if isinstance(value, list) else [value]
                for source in sources:
                    if isinstance(source, dict):
                        for k, v in source.items():
                            merged.setdefault(k, v)
                    else:
                        self._at(value_node.start_mark, path, "a merge key (<<) takes a map or a list of maps")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._at(
                    key_node.start_mark,
                    path,
                    "a key must be a plain word or string, not a list or a map",
                    "check the indentation and the ? marks around this key",
                )
                continue
            key = key_node.value  # keys are kept as written: `1:` is the key "1"
            if key in seen:
                first = seen[key]
                self._at(
                    key_node.start_mark,
                    path + (key,),
                    f"duplicate key {key!r} (first written at line {first.line + 1})",
                    "YAML keeps only the last value of a repeated key; remove or rename one of them",
                )
                continue
            seen[key] = key_node.start_mark
            self.doc.key_marks[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, path + (key,))
        for k, v in merged.items():
            if k not in out:
                out[k] = v
                origin = self.doc.marks.get(path + ("<<", k)) or self.doc.marks.get(path + ("<<",), (1, 1))
                self.doc.marks.setdefault(path + (k,), origin)
        return out


def _position_of(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def _tab_indents(text: str) -> list[tuple[int, int]]:
    """Lines whose indentation holds a tab, outside block scalars' content is not tracked:
    a tab anywhere in leading whitespace is reported, as YAML forbids it there."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" \t")
        lead = line[: len(line) - len(stripped)]
        if "\t" in lead and stripped and not stripped.startswith("#"):
            found.append((number, lead.index("\t") + 1))
    return found


def read_document(path: Path, file: str, *, max_bytes: int = MAX_SPEC_BYTES,
                  inside: Path | None = None) -> tuple[Document, list[SpecProblem]]:
    """Read and parse one YAML file. On any problem `Document.data` is None.

    Only a regular file of at most `max_bytes` is read (never a FIFO, a device or a directory),
    and with `inside` given, a symbolic link must lead inside that folder.
    """
    doc = Document(file=file, path=path)
    problems: list[SpecProblem] = []

    def fail(line: int, col: int, message: str, hint: str | None = None) -> tuple[Document, list[SpecProblem]]:
        problems.append(SpecProblem(file, line, col, "(file)", message, hint))
        return doc, problems

    try:
        raw = read_regular(path, max_bytes=max_bytes, inside=inside)
    except UnsafeFile as exc:
        if exc.message.startswith("is a directory"):
            return fail(1, 1, "is a directory, not a spec file", "name the YAML file itself")
        return fail(1, 1, exc.message, exc.hint)
    except FileNotFoundError:
        return fail(1, 1, "file not found", "check the path; it is relative to the current directory")
    except OSError as exc:
        return fail(1, 1, f"cannot read the file: {exc.strerror or exc}")

    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position_of(raw, exc.start)
        return fail(
            line, col, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)",
            "save the file as UTF-8",
        )
    if "\x00" in text:
        line, col = _position_of(raw, raw.index(b"\x00"))
        return fail(line, col, "the file contains a NUL byte; it is not a text file")

    tabs = _tab_indents(text)
    if tabs:
        for line, col in tabs:
            problems.append(
                SpecProblem(file, line, col, "(file)", "a tab character in the indentation",
                            "YAML indents with spaces only; replace the tab with spaces")
            )
        return doc, problems

    loader = SpecLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or str(exc)
        hint = "fix the YAML syntax at this position (indentation, a missing ':' or an unclosed quote or bracket)"
        if "expected a single document" in str(exc.context or "") or "another document" in message:
            message = "the file holds more than one YAML document (a second '---')"
            hint = "a spec is one document; remove the '---' line, or split it into two spec files"
        elif exc.context:
            message = f"{exc.context}: {message}"
            opened = exc.context_mark
            if opened is not None and exc.problem_mark is not None and opened.line != exc.problem_mark.line:
                # an unclosed bracket or quote is found lines later: say where it opens too
                message += f" (the {exc.context.removeprefix('while parsing a ')} opens at line {opened.line + 1}, column {opened.column + 1})"
                hint = f"close it on line {opened.line + 1} (a missing ']', '}}' or quote), or quote the whole value"
        return fail(line, col, f"invalid YAML: {message}", hint)
    except yaml.YAMLError as exc:  # pragma: no cover - errors without a mark
        return fail(1, 1, f"invalid YAML: {exc}")
    finally:
        loader.dispose()

    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        return fail(1, 1, "the file is empty", "start from a recipe: bria-pipeline init --recipe defined_character DIR")
    data = _Builder(loader, doc, problems).build(node, ())
    if problems:
        return doc, problems
    doc.data = data
    return doc, problems
