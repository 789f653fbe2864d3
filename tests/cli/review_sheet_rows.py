"""Reading a review sheet back with html.parser: one `Row` per image, and the datasets' headings."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Row:
    name: str = ""
    key: str = ""
    source: str | None = None  # the caption's source badge: automatic, manual
    caption: str | None = None
    flags: list[str] = field(default_factory=list)
    image_src: str | None = None


class SheetReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[Row] = []
        self.headings: list[str] = []
        self.row: Row | None = None
        self.cell = ""
        self.tags: list[tuple[str, str]] = []  # (tag, class) of open elements inside a row
        self.heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and (a.get("id") or "").startswith("img-"):
            self.row = Row()
            self.rows.append(self.row)
        elif tag == "h2":
            self.heading = []
        if self.row is None:
            return
        if tag == "td":
            self.cell = (a.get("class") or "").split()[0] if a.get("class") else ""
        if tag == "img":
            self.row.image_src = a.get("src")
        if tag != "img":
            self.tags.append((tag, a.get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self.heading is not None:
            self.headings.append(" ".join("".join(self.heading).split()))
            self.heading = None
        if self.row is None:
            return
        if tag == "tr":
            self.row = None
            self.tags = []
            return
        if self.tags:
            self.tags.pop()

    def handle_data(self, data: str) -> None:
        if self.heading is not None:
            self.heading.append(data)
        if self.row is None or not self.tags:
            return
        tag, css = self.tags[-1]
        if self.cell == "thumb" and tag == "code":
            self.row.name += data
        elif self.cell == "thumb" and tag == "div" and "muted" in css and not self.row.key and "/" in data:
            self.row.key = data
        elif self.cell == "caption" and tag == "span" and "badge" in css:
            self.row.source = data
        elif self.cell == "caption" and tag == "pre":
            self.row.caption = (self.row.caption or "") + data
        elif self.cell == "flags" and tag == "span":
            self.row.flags.append(data)


def read_sheet(path: Path) -> SheetReader:
    reader = SheetReader()
    reader.feed(path.read_text(encoding="utf-8"))
    reader.close()
    return reader
