"""Plan the generation part of an apply: desired outputs vs the manifest. Pure: no I/O.

    plan_generation(gen, models, manifest, lock_structured_prompts, prune=...) -> [Action]

The manifest passed in was loaded (and its files observed) beforehand; this module reads only
that data. What it decides, per output key:

- done, its file present with the recorded sha256          nothing (counted in the summary)
- pending with a recorded request_id                        wait: poll that same job, pay nothing
- new, failed, file missing or changed, answer lost         create (billed); an earlier request
                                                             whose answer was lost is said to
                                                             "may pay once more"
- its file name is held by an output the spec dropped       replace: that older file is moved
  (a changed prompt)                                         aside (``<name>.<key8>.<ext>``), or
                                                             deleted with --prune
- in the manifest, no longer in the spec                     kept; with --prune: delete (the local
                                                             file only, nothing remote exists),
                                                             with approval: it is paid work
- in the manifest, made by another spec (a shared folder)   never touched, counted in the summary

The decisions file (`Desired.decisions`, ``<spec>.decisions.yaml``) is obeyed:

- approved                  kept whatever happens: never deleted, not even with --prune when the
                            spec or the model changes (a replaced file is kept aside)
- rejected                  no longer asked for: --prune deletes its file (with approval); with
                            `regenerate: true` it is generated again with another seed (derived
                            from its key, so every machine picks the same): a billed create

Structured prompts are pinned in spec.lock.yaml by `StructuredPromptSpec.inputs_hash`; a pin in
the lock is used as is. Without one, a `structured_prompt.<set>` action generates it (and
refines it with a second call when the spec asks) before the images that use it.

The last action is always a no-op `generation` summary whose step (GenerationSummary) lists every
desired key: the executor uses it to flag outputs that left the spec as retired (the gallery shows
them apart).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from bria_pipeline import addresses
from bria_pipeline.decisions import APPROVE, NO_DECISIONS, REJECT, Decisions, reseeded
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord
from bria_pipeline.generate.outputs import (
    DesiredOutput,
    DesiredStructuredPrompt,
    ExpandedGeneration,
    ModelRef,
    expand_outputs,
    training_address,
)
from bria_pipeline.model import DesiredGeneration
from bria_pipeline.output_names import disambiguated, file_of, kept_aside, name_of, replaced
from bria_pipeline.plan.actions import Action, ActionKind, Change
from bria_pipeline.plan.steps import (
    DeleteOutput,
    GenerateImage,
    GenerateVideo,
    GenerationSummary,
    OutputFields,
    PinStructuredPrompt,
    PollImage,
    PollStructuredPrompt,
    PollVideo,
    RestoreOutput,
    StructuredPrompt,
    Superseded,
)

SUMMARY_ADDRESS = "generation"
MAY_PAY_AGAIN = (
    "the answer to an earlier request for it was lost, so the service may have made (and billed) "
    "it already; nothing can read that back: generating again may pay once more"
)


def _short(text: Any, limit: int = 60) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _describe(out: DesiredOutput) -> str:
    if out.kind == "video":
        return f"video from {out.source_address} with {out.model}"
    req = out.request
    assert req is not None
    what = []
    if req.prompt is not None:
        what.append(f"prompt {_short(req.prompt)!r}")
    if req.structured_prompt is not None:
        what.append(f"structured prompt from {_short(req.structured_prompt.prompt)!r}")
    what.append(f"seed {req.seed}")
    return ", ".join(what) + f", model {out.model}"


def _changes(old: OutputRecord, out: DesiredOutput) -> tuple[Change, ...]:
    new = out.record_fields()
    changes = []
    for attr in ("prompt", "structured_prompt_hash", "seed", "model", "model_name", "model_version", "source"):
        if getattr(old, attr) != new.get(attr):
            label = "structured_prompt" if attr == "structured_prompt_hash" else attr
            changes.append(Change(label, getattr(old, attr), new.get(attr)))
    old_params, new_params = old.params or {}, new.get("params") or {}
    for name in sorted(set(old_params) | set(new_params)):
        if old_params.get(name) != new_params.get(name):
            changes.append(Change(f"params.{name}", old_params.get(name), new_params.get(name)))
    return tuple(changes)


def _retired_address(record: OutputRecord) -> str:
    if record.kind == "video":
        return addresses.video(record.set_name, PurePosixPath(record.file).name if record.file else None)
    if record.file:
        return addresses.output(record.set_name, name_of(record.file))
    return addresses.output(record.set_name, record.name, record.key)


def record_address(record: OutputRecord) -> str:
    """The plan address of a manifest record: what the decisions file and the gallery name it by
    (an output the spec still asks for: its address; one it no longer asks for: by its file)."""
    if record.kind == "video" and not record.retired:
        return addresses.video(record.set_name)
    return _retired_address(record)


def _made_by_another_training(record: OutputRecord | None, out: DesiredOutput) -> str | None:
    """Why a done output is not this model's, or None.

    The key names the model by its fingerprinted name, which a new training under the same name
    keeps (a project made again after an ip_type change, a model deleted in the Console): the id
    of the model that made it tells them apart.
    """
    if record is None or record.status != "done" or not record.model_id:
        return None
    if not out.ref.trained:
        return f"made by model id {record.model_id}, and {out.ref.remote_name} is trained again by this plan"
    if record.model_id != out.ref.remote_id:
        return f"made by model id {record.model_id}, and {out.ref.remote_name} is now model id {out.ref.remote_id}"
    return None


class _Planner:
    def __init__(
        self,
        gen: DesiredGeneration,
        models: Mapping[str, ModelRef],
        manifest: Manifest,
        lock: Mapping[str, str],
        prune: bool,
        decisions: Decisions = NO_DECISIONS,
        replacing: frozenset[str] = frozenset(),
    ) -> None:
        self.decisions = decisions
        self.review_line: str | None = None  # the decisions' counts, for the plan's notes
        self.again: dict[str, str] = {}  # key of an output generated again -> why
        self.expanded = self._obey_rejections(expand_outputs(gen, models))
        self.replacing = replacing  # --replace: addresses generated again although up to date
        self.models = models
        self.manifest = manifest
        self.lock = lock
        self.prune = prune
        self.desired_keys = self.expanded.keys
        self.spec = gen.spec
        self.model_keys = tuple(models) + tuple(r.model for r in gen.images) + tuple(v.model for v in gen.videos)
        self.actions: list[Action] = []
        self.sp_actions: dict[str, Action] = {}
        self.output_actions: dict[str, Action] = {}
        self.superseded: set[str] = set()
        self.up_to_date = 0
        # Files held by records, by name without extension, for replacements.
        self.holders: dict[str, OutputRecord] = {}
        for record in manifest:
            if record.file and record.file in manifest.files:
                self.holders[name_of(record.file)] = record

    def _obey_rejections(self, expanded: ExpandedGeneration) -> ExpandedGeneration:
        """Rejected outputs leave the desired set; those to generate again come back with another seed."""
        images: list[DesiredOutput] = []
        changed = False
        for desired in expanded.images:
            out: DesiredOutput | None = desired
            for _ in range(32):  # each regenerated output may be rejected in turn; bounded
                assert out is not None
                decision = self.decisions.for_output(out.key, out.address)
                request = out.request
                if decision is None or decision.decision != REJECT or request is None:
                    break
                changed = True
                if not decision.regenerate:
                    out = None
                    break
                rejected = out
                out = _with_seed(out, reseeded(out.key, request.seed))
                self.again[out.key] = (f"{rejected.address} was rejected in {self.decisions.name}: generated again "
                                       f"with seed {out.request.seed if out.request else '?'}")
            if out is not None:
                images.append(out)
        return replace(expanded, images=tuple(images)) if changed else expanded

    def approved(self, record: OutputRecord) -> bool:
        return self.decisions.verdict(record.key, record_address(record)) == APPROVE

    def ours(self, record: OutputRecord) -> bool:
        """This spec's output (see OutputRecord.belongs_to): only those are ever deleted."""
        return record.key in self.desired_keys or record.belongs_to(self.spec, self.model_keys)

    def _fields(self, out: DesiredOutput) -> OutputFields:
        return OutputFields(**out.record_fields(), spec=self.spec or None)

    # -- structured prompts -----------------------------------------------------------------

    def structured_prompt(self, sp: DesiredStructuredPrompt) -> Action | None:
        """The action that makes `sp`'s text available, or None when the lock pins it."""
        h = sp.inputs_hash
        if h in self.lock:
            return None
        if h in self.sp_actions:
            return self.sp_actions[h]
        ref = self.models[sp.model]
        step = StructuredPrompt(h, sp.set_name, sp.spec.prompt, sp.model, model_id=ref.remote_id,
                                refine=sp.spec.refine, seed=sp.spec.seed)
        deps = () if ref.trained else (training_address(sp.model),)
        record = self.manifest.structured_prompts.get(h)
        steps = "generate a structured prompt from the text" + (
            f", then refine it with {_short(sp.spec.refine)!r}" if sp.spec.refine else ""
        )
        if record is not None and record.status == "done" and record.text:
            action = Action(
                sp.address,
                "update",
                "pin the structured prompt generated earlier (kept in the manifest) into spec.lock.yaml; no request",
                step=PinStructuredPrompt(h, sp.set_name, sp.spec.prompt, sp.model, text=record.text),
            )
        elif record is not None and record.status == "pending" and record.request_id:
            action = Action(
                sp.address,
                "wait",
                f"resume request {record.request_id} ({record.stage}) recorded before: poll it, pay nothing again",
                depends_on=deps,
                step=PollStructuredPrompt(h, sp.set_name, sp.spec.prompt, sp.model, model_id=ref.remote_id,
                                          refine=sp.spec.refine, seed=sp.spec.seed, request_id=record.request_id,
                                          stage=record.stage, draft=record.draft),
            )
        else:
            reason = f"not pinned in spec.lock.yaml: {steps}, then pin it"
            if record is not None and record.unanswered:
                reason += f"; {MAY_PAY_AGAIN}"
            elif record is not None and record.status == "failed":
                reason += f"; the last attempt failed ({_short(record.error, 120)})"
            action = Action(sp.address, "create", reason, depends_on=deps, step=step, billed=True)
        self.sp_actions[h] = action
        return action

    def repin(self) -> None:
        """A structured prompt made earlier (in the manifest) but missing from the lock file (lost,
        or never committed) is pinned again even when every output using it is done: the lock
        file is what makes the next checkout reproduce it. No request."""
        for out in self.expanded.images:
            sp = out.structured_prompt
            if sp is None or sp.inputs_hash in self.lock or sp.inputs_hash in self.sp_actions:
                continue
            record = self.manifest.structured_prompts.get(sp.inputs_hash)
            if record is not None and record.status == "done" and record.text:
                self.structured_prompt(sp)

    # -- outputs ----------------------------------------------------------------------------

    def output(self, out: DesiredOutput) -> None:
        record = self.manifest.get(out.key)
        other_training = _made_by_another_training(record, out)
        forced = out.address in self.replacing and self.manifest.is_complete(out.key) and other_training is None
        if self.manifest.is_complete(out.key) and other_training is None and not forced:
            assert record is not None and record.file is not None
            if name_of(record.file) != out.name:
                self._restore(out, record)
            else:
                self.up_to_date += 1
            return
        deps: list[str] = []
        if not out.ref.trained:
            deps.append(training_address(out.model))
        step: GenerateImage | GenerateVideo = (GenerateVideo if out.kind == "video" else GenerateImage)(
            out.key, self._fields(out))
        if out.kind == "video":
            source_action = self.output_actions.get(out.source_key or "")
            if source_action is not None:
                deps.append(source_action.address)
        if record is not None and record.status == "pending" and record.request_id:
            self.output_actions[out.key] = self._add(
                Action(
                    out.address,
                    "wait",
                    f"resume request {record.request_id} sent {record.created or 'earlier'}: poll that job, pay nothing again",
                    depends_on=tuple(deps),
                    step=(PollVideo if out.kind == "video" else PollImage)(
                        out.key, step.output, request_id=record.request_id),
                )
            )
            return
        sp = out.structured_prompt
        if sp is not None:
            sp_action = self.structured_prompt(sp)
            if sp_action is not None:
                deps.append(sp_action.address)
        kind: ActionKind = "create"
        changes: tuple[Change, ...] = ()
        reason = f"new output: {_describe(out)}"
        if out.key in self.again:
            reason = f"{self.again[out.key]}; {_describe(out)}"
        if forced:
            assert record is not None and record.file is not None and record.sha256 is not None
            kind = "replace"
            reason = (f"--replace {out.address}: generated again, billed once more (the old file is kept as "
                      f"{replaced(record.file, record.sha256)} when the new one differs); {_describe(out)}")
        elif record is not None:
            if other_training is not None and record.file and record.file in self.manifest.files:
                # same key, another training: the new file takes the name, the old one is kept aside
                assert record.sha256 is not None
                kind = "replace"
                changes = (Change("model_id", record.model_id, out.ref.remote_id),)
                kept = replaced(record.file, record.sha256)
                reason = f"{other_training}: generated again (the old file is kept as {kept}); {_describe(out)}"
            elif other_training is not None:
                reason = f"{other_training}: generated again; {_describe(out)}"
            elif record.unanswered:
                reason = f"{_describe(out)}; {MAY_PAY_AGAIN}"
                step = replace(step, may_pay_again=True)
            elif record.paid_work_lost:
                reason = f"{_describe(out)}; its paid job or result is gone ({_short(record.error, 120)}): generated again, paid once more"
                step = replace(step, may_pay_again=True)
            elif record.status == "failed":
                reason = f"the last attempt failed ({_short(record.error, 120)}): trying again; {_describe(out)}"
            elif record.status == "done" and record.file and record.file not in self.manifest.files:
                reason = f"its file {record.file} is missing: generating it again; {_describe(out)}"
            elif record.status == "done" and record.file:
                reason = f"its file {record.file} was changed on disk: generating it again; {_describe(out)}"
        holder = self.holders.get(out.name)
        if holder is not None and holder.key != out.key and holder.key in self.desired_keys:
            # The name is held by another output the spec still asks for (its file kept an
            # earlier name): this one takes a name of its own instead of replacing it.
            name = disambiguated(out.name, out.key)
            out = replace(out, name=name, address=addresses.output(out.set_name, name))
            step = replace(step, output=self._fields(out))
            holder = self.holders.get(out.name)
        deletes = False
        if holder is not None and holder.key != out.key:
            kind = "replace"
            changes = _changes(holder, out)
            changed = ", ".join(c.attribute for c in changes) or "its request"
            # a paid output is deleted only with --prune, only if it is this spec's, and with approval
            deletes = self.prune and self.ours(holder) and not self.approved(holder)
            fate = "deleted (--prune)" if deletes else f"kept as {self._aside(holder)}"
            if self.approved(holder):
                fate += f", as it is approved in {self.decisions.name}"
            if not self.ours(holder):
                fate += f", as it was made by {holder.spec or 'another spec'}"
            reason = f"{changed} changed: a new output replaces {holder.file} (the old file is {fate})"
            step = replace(step, superseded=(Superseded(holder.key, holder.file, None if deletes else self._aside(holder)),))
            self.superseded.add(holder.key)
        self.output_actions[out.key] = self._add(
            Action(out.address, kind, reason, changes=changes, depends_on=tuple(deps), step=step, billed=True,
                   approval=deletes)
        )

    def _restore(self, out: DesiredOutput, record: OutputRecord) -> None:
        """An output back in the spec whose file was kept aside (a change reverted): its file takes
        its name again, whatever holds that name now is kept aside in turn. No request."""
        assert record.file is not None
        target = file_of(out.name, PurePosixPath(record.file).suffix)
        holder = self.holders.get(out.name)
        if holder is not None and holder.key in self.desired_keys:
            self.up_to_date += 1  # the name belongs to another output the spec asks for: leave both
            return
        step = RestoreOutput(out.key, record.file, target, self._fields(out))
        fate = ""
        if holder is not None:
            aside = self._aside(holder)
            fate = f" ({holder.file} is kept as {aside})"
            step = replace(step, superseded=(Superseded(holder.key, holder.file, aside),))
            self.superseded.add(holder.key)
        self.output_actions[out.key] = self._add(
            Action(
                out.address,
                "update",
                f"back in the spec: its file {record.file} takes the name {target} again{fate}; no request",
                changes=(Change("file", record.file, target),),
                step=step,
            )
        )

    def decision_counts(self) -> dict[str, int]:
        """approved / rejected / undecided among this spec's outputs that have a file."""
        return self.decisions.count((r.key, record_address(r)) for r in self.manifest
                                    if r.file and r.file in self.manifest.files and self.ours(r))

    @staticmethod
    def _aside(record: OutputRecord) -> str:
        assert record.file is not None
        return kept_aside(record.file, record.key)

    def _add(self, action: Action) -> Action:
        self.actions.append(action)
        return action

    # -- outputs the spec no longer asks for ------------------------------------------------

    def retired(self) -> tuple[int, int]:
        """Outputs the spec no longer asks for: (kept, another spec's). With --prune this spec's are
        deleted, each a paid output, so each needs approval; another spec's are never touched."""
        kept = foreign = 0
        for record in sorted(self.manifest, key=lambda r: (r.name, r.key)):
            if record.key in self.desired_keys or record.key in self.superseded:
                continue
            if not self.ours(record):
                foreign += 1
                continue
            has_file = bool(record.file) and record.file in self.manifest.files
            delete = DeleteOutput(record.key, record.file if has_file else None, self.spec)
            address = _retired_address(record)
            paid_request = record.status == "pending" and bool(record.request_id)
            verdict = self.decisions.verdict(record.key, address)
            if verdict == APPROVE and not paid_request:
                if has_file:
                    kept += 1
                continue  # approved: kept whatever the spec or its model becomes, --prune included
            if self.prune and verdict == REJECT:
                what = f"delete {record.file} (local file only)" if has_file else "forget it"
                self._add(Action(address, "delete", f"rejected in {self.decisions.name}, --prune: {what}", step=delete,
                                 approval=has_file))
            elif self.prune:
                what = f"delete {record.file} (local file only; nothing remote exists)" if has_file else "forget it"
                if paid_request and not has_file:
                    what = f"forget request {record.request_id}, already paid for"
                self._add(Action(address, "delete", f"no longer in the spec, --prune: {what}", step=delete,
                                 approval=has_file or paid_request))
            elif paid_request:
                assert record.request_id is not None  # paid_request: a pending record with its request id
                self._add(
                    Action(
                        address,
                        "wait",
                        f"no longer in the spec, but request {record.request_id} was already paid for: "
                        "collect it (kept, shown as retired; --prune drops it)",
                        step=(PollVideo if record.kind == "video" else PollImage)(
                            record.key, None, request_id=record.request_id, retired=True),
                    )
                )
            elif has_file:
                kept += 1
        return kept, foreign

    def plan(self) -> list[Action]:
        for out in self.expanded.images:
            self.output(out)
        for out in self.expanded.videos:
            self.output(out)
        self.repin()
        kept, foreign = self.retired()
        sp_actions = sorted(self.sp_actions.values(), key=lambda a: a.address)
        parts = [f"{self.up_to_date} output(s) up to date"]
        if self.decisions.file:
            counts = self.decision_counts()
            self.review_line = (f"reviewed: {counts['approved']} approved, {counts['rejected']} rejected, "
                                f"{counts['undecided']} undecided")
            parts.append(self.review_line)
        if kept:
            parts.append(f"{kept} kept from earlier specs (--prune deletes them)")
        if foreign:
            parts.append(f"{foreign} made by another spec in {self.manifest.output_dir.name}/ (never touched)")
        summary = Action(
            SUMMARY_ADDRESS,
            "noop",
            ", ".join(parts),
            step=GenerationSummary(tuple(o.key for o in self.expanded.outputs), self.up_to_date, kept, self.spec,
                                   tuple(sorted(set(self.model_keys)))),
        )
        return sp_actions + self.actions + [summary]


def plan_generation(
    gen: DesiredGeneration,
    models: Mapping[str, ModelRef],
    manifest: Manifest,
    lock_structured_prompts: Mapping[str, str],
    *,
    prune: bool,
    decisions: Decisions = NO_DECISIONS,
    notes: list[str] | None = None,
    replacing: frozenset[str] = frozenset(),
    replaceable: set[str] | None = None,
) -> list[Action]:
    """The generation actions of a plan, in an order that respects their dependencies.

    `replacing`: addresses of outputs made again although they are up to date (--replace); the
    addresses it may name are added to `replaceable`.

    `models` maps each model key the generation section uses to its ModelRef; `manifest` is the
    output manifest loaded (with its files observed) beforehand; `lock_structured_prompts` maps
    StructuredPromptSpec.inputs_hash to the pinned structured prompt text; `decisions`: the
    spec's decisions file; `notes`: gets a line counting approved, rejected and undecided outputs.
    """
    planner = _Planner(gen, models, manifest, lock_structured_prompts, prune, decisions, replacing)
    if replaceable is not None:
        replaceable.update(out.address for out in planner.expanded.outputs)
    actions = planner.plan()
    if notes is not None and planner.review_line:  # printed under the plan: what the reviewers decided
        notes.append(f"outputs {planner.review_line} (in {decisions.name})")
    return actions


def _with_seed(out: DesiredOutput, seed: int) -> DesiredOutput:
    """`out` asked for with another seed: its key, file name and address follow."""
    assert out.request is not None
    request = replace(out.request, seed=seed)
    tail = f"seed{out.request.seed}"
    name = out.name[: -len(tail)] + f"seed{seed}" if out.name.endswith(tail) else f"{out.name}-seed{seed}"
    return replace(out, key=request.key(out.ref.remote_name, out.ref.version), name=name,
                    address=addresses.output(out.set_name, name), request=request)


def changed_actions(actions: list[Action]) -> list[Action]:
    """The actions that do something (everything but the summary)."""
    return [a for a in actions if a.is_change]
