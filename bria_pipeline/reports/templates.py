"""The Jinja environment for the HTML pages (gallery, review sheet): autoescaped, strict.

Templates live in ``bria_pipeline/data/templates/`` as package data. Every value that reaches a
page passes through autoescaping: prompts, captions and file names are user text.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bria_pipeline", "data/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def href(relative_posix_path: str) -> str:
    """A relative link to a file: each path segment percent-encoded, slashes kept."""
    return quote(relative_posix_path, safe="/")
