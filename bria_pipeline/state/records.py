"""The manifest's records: one generated output (`OutputRecord`), one structured prompt being made
for a pin (`StructuredPromptRecord`), and what both share (`RequestRecord`): the life of the
request that makes them and the money it cost.

A record's lifecycle::

    pending, request_id None     about to POST (written before the request leaves)
    pending, request_id "abc"    the server accepted it: a re-run polls "abc", never POSTs again
    done                         the file is downloaded, verified, renamed into place
    failed                       the job or the request failed; `answer_lost` when the POST's
                                 answer never arrived (the server may have done it, and billed)

A new POST over an unanswered one (pending without request_id, or answer_lost) sets `paid_again`:
that output may have been paid for twice, and the manifest says so. So does a new POST after an
accepted request whose job or result is gone (404 at the status service, a result expired before
it was downloaded): that one was paid for, and nothing of it can be had any more.

The money record, per output and structured prompt: `attempts` (POSTs sent), `billed` (POSTs the
service accepted: it answered with a request id or a result), `unknown_effect` (POSTs whose answer
was lost after the request left: the service may or may not have made and billed them), and
`previous` (earlier request ids and how they ended: error, gone, expired). A POST answered with
an error (a 4xx, or a 500 from the API itself) did nothing and counts in none but `attempts`.
`RequestRecord.money()` is one record's part of the manifest's top-level `requests` object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar

from bria_pipeline.identity import model_base
from bria_pipeline.state.clock import now_iso

OutputKind = Literal["image", "video"]
OutputStatus = Literal["pending", "done", "failed"]
MONEY = ("sent", "billed", "unknown_effect", "paid_again")  # the manifest's `requests`, in its order

_R = TypeVar("_R", bound="RequestRecord")


@dataclass(kw_only=True)
class RequestRecord:
    """The request that makes a record, and its money: declared here once for both record types.

    In the JSON form a record's own fields come first, then these; `set_name` is written "set"."""

    status: OutputStatus = "pending"
    request_id: str | None = None
    created: str | None = None
    completed: str | None = None
    attempts: int = 0  # POSTs sent
    answer_lost: bool = False
    paid_again: bool = False
    error: str | None = None
    billed: int = 0  # POSTs the service accepted
    unknown_effect: int = 0  # POSTs whose answer was lost: made and billed, or not
    previous: list[dict[str, Any]] = field(default_factory=list)  # earlier requests and how they ended

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        shared = [f.name for f in fields(RequestRecord)]
        out = {k: v for k, v in data.items() if k not in shared}
        out.update((k, data[k]) for k in shared)
        out["set"] = out.pop("set_name")
        return out

    @classmethod
    def from_json(cls: type[_R], data: dict[str, Any]) -> _R:
        data = dict(data)
        if "set" in data:
            data["set_name"] = data.pop("set")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def money(self) -> dict[str, int]:
        """This record's part of the manifest's `requests` (keys: MONEY)."""
        return {"sent": self.attempts, "billed": self.billed, "unknown_effect": self.unknown_effect,
                "paid_again": int(self.paid_again)}

    @property
    def unanswered(self) -> bool:
        """A POST may have reached the server, but its answer was never recorded."""
        return (self.status == "pending" and self.request_id is None) or self.answer_lost

    @property
    def paid_work_lost(self) -> bool:
        """The last accepted request's job or result is gone: a new one pays once more."""
        return self.status == "failed" and bool(self.previous) and self.previous[-1].get("ended") in ("gone", "expired")

    @property
    def may_pay_again(self) -> bool:
        """A new POST now may pay for this output a second time."""
        return bool(self.attempts) and (self.unanswered or self.paid_work_lost)

    def mark_pending(self, request_id: str | None) -> None:
        """`request_id=None`: about to POST (a new attempt); else: the POST's answer named the job."""
        if request_id is None:
            if self.may_pay_again:
                self.paid_again = True
            self.attempts += 1
            self.answer_lost = False
            self.error = None
            self.created = self.created or now_iso()
        elif request_id != self.request_id:
            self.billed += 1
        self.status = "pending"
        self.request_id = request_id

    def mark_failed(self, error: str, answer_lost: bool, ended: str | None = None) -> None:
        """`answer_lost`: the POST's effect is unknown. `ended` ("error", "gone", "expired"): the
        accepted request ended so; it goes to `previous`."""
        if ended and self.request_id:
            self.previous.append({"request_id": self.request_id, "ended": ended, "at": now_iso()})
        self.status = "failed"
        self.error = error
        self.answer_lost = answer_lost
        if answer_lost:
            self.unknown_effect += 1
        if answer_lost or ended:
            self.request_id = None


@dataclass
class OutputRecord(RequestRecord):
    """One generated image or video, as the manifest stores it (JSON key ``set`` is `set_name`)."""

    key: str
    kind: OutputKind
    name: str  # "places/beach-dawn-seed1": the output's path in output_dir without extension
    set_name: str  # the prompt set (images) or the video's name (videos)
    model: str  # the spec's model key, e.g. "lucy-lora" or "lucy-lora[rank=32]"
    file: str | None = None  # relative to output_dir, POSIX separators; set once done
    sha256: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    structured_prompt: str | None = None  # the text sent, or the one the service returned
    structured_prompt_hash: str | None = None  # StructuredPromptSpec.inputs_hash when one was used
    model_name: str | None = None  # the model's remote name
    model_id: str | None = None
    model_version: Any = None  # the checkpoint / version the output was generated with
    source: str | None = None  # videos: the key of the source image
    retired: bool = False  # no longer in the spec; the file is kept until --prune
    order: int | None = None  # position in the spec's expansion: the gallery follows it
    spec: str | None = None  # the file name of the spec that made it: only that spec's --prune deletes it

    def belongs_to(self, spec: str, models: Iterable[str]) -> bool:
        """Made by this spec: stamped with its file name, or (made before records were stamped)
        by one of its models. Nothing deletes an output of another spec."""
        if self.spec:
            return self.spec == spec
        return model_base(self.model) in {model_base(m) for m in models}


@dataclass
class StructuredPromptRecord(RequestRecord):
    """A structured prompt being generated (and refined) for a pin in spec.lock.yaml."""

    inputs_hash: str
    set_name: str
    prompt: str
    model: str
    refine: str | None = None
    seed: int | None = None
    stage: Literal["generate", "refine"] = "generate"
    draft: str | None = None  # the first call's text, before refinement
    text: str | None = None  # the final text, pinned into the lock
