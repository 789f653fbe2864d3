"""A small DOM built with html.parser, for asserting on the pages the generation layer writes."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text: list[str] = []

    def iter(self, tag: str | None = None):
        for child in self.children:
            if tag is None or child.tag == tag:
                yield child
            yield from child.iter(tag)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


VOID = {"img", "meta", "br", "hr", "link", "input", "source"}


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag == "script":
            self.scripts += 1
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"unbalanced </{tag}>"
        self.current = node.parent

    def handle_data(self, data):
        self.current.text.append(data)


def parse(path: Path) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    return builder
