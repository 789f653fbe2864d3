"""The API token, wrapped so it cannot be printed, logged, pickled or serialized by accident."""

from __future__ import annotations

MASK = "****"


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
        """`text` with every occurrence of the secret replaced by the mask."""
        if self._value and self._value in text:
            return text.replace(self._value, MASK)
        return text

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
