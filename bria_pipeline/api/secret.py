"""The API token, wrapped so it cannot be printed, logged, pickled or serialized by accident.

- `Secret`: the wrapper; `str()`/`repr()` give ``****``.
- `check_token(value)`: refuse a token an HTTP header cannot carry (a line break, a control or
  non-ASCII character, a space) before any request, without echoing it.
- `Secret.redact(text)`: every form of the token (see `bria_pipeline.masking.forms`) masked.
"""

from __future__ import annotations

from bria_pipeline.api.errors import ConfigError
from bria_pipeline.masking import MASK, forms, replace_forms


class Secret:
    """A string that shows itself only through `reveal()`.

    `str()`, `repr()` and f-strings give ``****``; pickling and copying to JSON fail; equality
    compares the values without exposing them.
    """

    __slots__ = ("_value",)
    _value: str

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
        return replace_forms(text, forms(self._value)) if self._value else text

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

    def __reduce__(self) -> str | tuple[object, ...]:
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


__all__ = ["MASK", "Secret", "check_token"]
