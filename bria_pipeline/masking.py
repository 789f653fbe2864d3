"""Masking the API token in text about to be printed or logged, in every form it can take.

- `forms(value)`: every way the token can show up in text: as is, escaped (Python ``repr`` of the
  str or of its bytes, JSON, and those quoted again), URL-encoded, base64 (standard and URL-safe,
  at any alignment inside a longer base64 text), and the lines of a token holding line breaks.
- `register(value)` / `register_environment()` and `mask(text)`: the tokens of this process,
  replaced by ``****`` in any text given to `mask` (the CLI passes every line it prints).

Standard library only, so the command line can mask without loading the API client.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

MASK = "****"
TOKEN_ENV = "BRIA_API_TOKEN"  # the variable Bria's own SDK reads
MIN_DERIVED = 8  # shorter derived forms (a base64 core of a short token) would mask ordinary text


# --- every form a token can take in text -------------------------------------------------------

_forms_cache: dict[str, tuple[str, ...]] = {}


def _b64_cores(data: bytes) -> set[str]:
    """The base64 characters fully determined by `data`, at each of the 3 alignments it can have
    inside a longer base64 text, and its own encoding with and without padding."""
    found = {base64.b64encode(data).decode("ascii")}
    for shift, start in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        total = shift + len(data)
        found.add(encoded[start:(total // 3) * 4 + total % 3])
    return found | {f.rstrip("=") for f in found}


def _escapes(value: str) -> set[str]:
    return {repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def forms(value: str) -> tuple[str, ...]:
    """Every form of `value` worth masking, longest first (see the module docstring)."""
    cached = _forms_cache.get(value)
    if cached is not None:
        return cached
    data = value.encode("utf-8", "surrogateescape")
    derived = {repr(data)[2:-1], quote(value, safe=""), quote(value), quote_plus(value)} | _escapes(value)
    derived |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), q) for q in list(derived)}
    for core in _b64_cores(data):
        derived |= {core, core.replace("+", "-").replace("/", "_")}
    derived |= {line for line in re.split(r"[\r\n]+", value) if line != value}
    derived |= {escaped for form in list(derived) for escaped in _escapes(form)}  # an escaped form quoted again
    found = {value} | {form for form in derived if len(form) >= MIN_DERIVED}
    result = tuple(sorted((f for f in found if f), key=len, reverse=True))
    _forms_cache[value] = result
    return result


def replace_forms(text: str, masked: tuple[str, ...]) -> str:
    for form in masked:
        if form in text:
            text = text.replace(form, MASK)
    return text


# --- the tokens of this process ------------------------------------------------------------------

_registered: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


MIN_REGISTERED = 6  # a placeholder such as BRIA_API_TOKEN=x must not mask every "x" of every line


def register(value: str | None) -> None:
    """Mask `value` (in every form) in whatever `mask` is given from now on."""
    raw = value
    if raw and len(raw.strip()) >= MIN_REGISTERED:
        with _lock:
            _registered.setdefault(raw, forms(raw))


def mask(text: str) -> str:
    """`text` with every form of every registered token replaced by ``****``."""
    if not _registered or not text:
        return text
    for masked in list(_registered.values()):
        text = replace_forms(text, masked)
    return text


def register_environment(environ: Mapping[str, str] | None = None) -> None:
    """Register the token of the environment (BRIA_API_TOKEN), whatever it holds."""
    raw = (os.environ if environ is None else environ).get(TOKEN_ENV)
    register(raw.strip() if raw else None)


# --- URLs ------------------------------------------------------------------------------------------

# What a URL may carry that is no address: user:password@, ;parameters, ?query, #fragment. Each can
# hold a secret (a key, a SAS token, ?api_token=), so none is accepted and none is ever shown.
URL_SECRET_PARTS = ("credentials (user:password@)", "parameters (;...)", "a query string (?...)",
                    "a fragment (#...)")


def _split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme://, authority, path, the rest from the first ';', '?' or '#'): by characters, so a
    URL that `urllib` cannot parse is split (and masked) all the same. Everything up to the last
    '@' is the authority's user part, even when a password holds '/', '?' or '#'."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        head, rest = "", text
    else:
        head = scheme + sep
    user, at, rest = rest.rpartition("@")
    authority = user + at + re.match(r"[^/?#;]*", rest).group()  # type: ignore[union-attr]
    rest = rest[len(authority) - len(user + at):]
    cut = re.search(r"[;?#]", rest)
    return head, authority, rest[:cut.start()] if cut else rest, rest[cut.start():] if cut else ""


def url_secret_parts(url: str) -> list[str]:
    """Which of URL_SECRET_PARTS `url` carries (none: an empty list)."""
    _, authority, _, rest = _split_url(url)
    found = [URL_SECRET_PARTS[0]] if "@" in authority else []
    return found + [name for name, mark in zip(URL_SECRET_PARTS[1:], ";?#") if mark in rest]


def mask_url(url: str) -> str:
    """`url` as it may be shown: credentials, parameters, query and fragment replaced by ``****``
    (``s3://****@bucket/x``, ``https://host/v2?****``), and any registered token masked."""
    head, authority, path, rest = _split_url(url)
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    if rest:
        rest = rest[0] + MASK
    return mask(head + authority + path + rest)
