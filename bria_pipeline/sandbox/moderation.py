"""Emulated content moderation (deterministic, documented triggers).

- text (prompts): rejected when it contains one of BLOCKED_WORDS
- images: rejected when their file name or embedded text metadata contains one of BLOCKED_WORDS
Rejections answer 422, as the contract says for moderation failures.
"""

from __future__ import annotations

import re

from bria_pipeline.sandbox.problems import ApiProblem

BLOCKED_WORDS = ("nsfw", "sandbox-moderation-fail")
_PATTERN = re.compile("|".join(re.escape(w) for w in BLOCKED_WORDS), re.I)


def flagged(*texts: str | None) -> bool:
    return any(t and _PATTERN.search(t) for t in texts)


def check_prompt(*texts: str | None) -> None:
    if flagged(*texts):
        raise ApiProblem(422, "Content moderation failure: the prompt was flagged (emulated moderation).")


def check_image(*texts: str | None) -> None:
    if flagged(*texts):
        raise ApiProblem(422, "Content moderation failure: the image was flagged (emulated moderation).")
