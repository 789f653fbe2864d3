"""The API token, wrapped so it cannot be printed, logged, pickled or serialized by accident.

- `Secret`: the wrapper; `str()`/`repr()` give ``****``.
- `check_token(value)`: refuse a token an HTTP header cannot carry (a line break, a control or
  non-ASCII character, a space) before any request, without echoing it.
- `forms(value)`: every way the token can show up in text: as is, escaped (Python ``repr`` of the
  str or of its bytes, JSON), URL-encoded, base64 (standard and URL-safe, at any alignment inside
  a longer base64 text), and the lines of a token that holds line breaks.
- `register(value)` and `mask(text)`: the tokens of this process, masked in any text about to be
  printed or logged (the CLI's diagnostics pass every line through `mask`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus

from bria_pipeline.api.errors import ConfigError

MASK = "****"
MIN_DERIVED = 8  # shorter derived forms (a base64 core of a short token) would mask ordinary text


class Secret:
    """A string that shows itself only through `reveal()`.

    `str()`, `repr()` and f-strings give ``****``; pickling and copying to JSON fail; equality
    compares the values without exposing them.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a string")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """`text` with every form of the secret (see `forms`) replaced by the mask."""
        return _replace(text, forms(self._value)) if self._value else text

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> object:
        raise TypeError("a Secret cannot be pickled: the API token is never written to disk")


# --- which tokens an HTTP header can carry ------------------------------------------------------


def _bad_character(ch: str) -> str | None:
    if ch in "\r\n":
        return "a line break (CR or LF)"
    if ord(ch) > 126:
        return "a non-ASCII character"
    if ord(ch) < 32 or ord(ch) == 127:
        return "a control character"
    if ch == " ":
        return "a space"
    return None


def check_token(value: str, source: str = "BRIA_API_TOKEN") -> None:
    """Raise ConfigError when `value` holds a character an API token cannot have; never echo it."""
    for position, ch in enumerate(value, start=1):
        what = _bad_character(ch)
        if what is not None:
            raise ConfigError(
                f"the API token in {source} holds {what} at character {position} of {len(value)}; "
                "it was not sent anywhere and is not shown",
                hint=(
                    "A Bria API token is printable ASCII without spaces or line breaks. Copy it again from "
                    "https://platform.bria.ai/organization-management/api-keys and set it on one line, e.g. "
                    "export BRIA_API_TOKEN='<token>'."
                ),
            )


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


def _replace(text: str, masked: tuple[str, ...]) -> str:
    for form in masked:
        if form in text:
            text = text.replace(form, MASK)
    return text


# --- the tokens of this process ------------------------------------------------------------------

_registered: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


MIN_REGISTERED = 6  # a placeholder such as BRIA_API_TOKEN=x must not mask every "x" of every line


def register(value: str | Secret | None) -> None:
    """Mask `value` (in every form) in whatever `mask` is given from now on."""
    raw = value.reveal() if isinstance(value, Secret) else value
    if raw and len(raw.strip()) >= MIN_REGISTERED:
        with _lock:
            _registered.setdefault(raw, forms(raw))


def mask(text: str) -> str:
    """`text` with every form of every registered token replaced by ``****``."""
    if not _registered or not text:
        return text
    for masked in list(_registered.values()):
        text = _replace(text, masked)
    return text
