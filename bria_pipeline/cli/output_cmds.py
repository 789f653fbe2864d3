"""Results: the block that ends apply and destroy (Terraform's ``Outputs:``), `bria-pipeline output`,
and the JSON documents `--json` prints (schema: data/result.schema.json).

    Results:
      gallery   examples/lucy/outputs/index.html
      project   lucy-example  id 10001
      dataset   lucy  id 20001  (lucy-720be995)
      model     lucy-lora  id 30001  version ce6edf7d  (lucy-lora-ce6edf7d)
      counts    1 project, 1 dataset, 1 model, 9 images, 1 video
      billed    this run: 1 training, 9 image generations, 2 structured-prompt calls, 1 video (13 billed calls) in 3 s
                generation requests billed in all: 12
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import click

from ..apply.result import ApplyResult
from ..commands.output import NAMES, RESULT_FORMAT, RESULT_FORMAT_VERSION, lookup, names_of
from ..errors import BriaPipelineError
from ..plan.cost import duration
from ..plan.document import Plan
from .backend_cmds import _offline_pipeline, backend_option
from .pipeline_options import root_obj
from .run_summary import each_spec, emit_json
from .spec_cmds import SpecInputs, spec_options


def document(command: str, spec: Path | str, **body: Any) -> dict[str, Any]:
    """One command's JSON document: what it is, then its body (see data/result.schema.json)."""
    return {"format": RESULT_FORMAT, "format_version": RESULT_FORMAT_VERSION, "command": command,
            "spec": str(spec), **body}


def billed_of(plan: Plan | None, result: ApplyResult) -> dict[str, Any]:
    """What the run was billed: the plan's count by kind, the paid requests the service accepted, and
    the time the run's requests take at the plan's rate limit (--rate-limit; None without one)."""
    cost = plan.cost if plan is not None else None
    rate = plan.rate_per_minute if plan is not None else None
    report = result.generation
    return {
        "planned": cost.as_dict() if cost is not None else None,
        "text": cost.billed_text() if cost is not None else "nothing billed",
        "requests": report.billed_requests if report is not None else 0,  # generation requests the service accepted
        "unknown_effect": report.unknown_effect if report is not None else 0,
        "rate_per_minute": rate,
        "estimated_seconds": round(cost.requests / rate * 60, 1) if cost is not None and rate else None,
        "elapsed_seconds": round(result.elapsed, 1),
    }


def run_document(command: str, spec: Path, result: ApplyResult, plan: Plan | None,
                 results: dict[str, Any] | None) -> dict[str, Any]:
    """apply's and destroy's document: how the run went, what it was billed, then the results."""
    status = "cancelled" if result.cancelled else "failed" if not result.ok else \
        "running" if result.still_running else "ok"
    return document(
        command, spec, status=status, summary=result.summary(),
        plan=None if plan is None else {"summary": plan.summary_line(), "operation": plan.operation},
        steps=[{"address": s.address, "status": s.status, "message": s.message} for s in result.steps],
        notes=list(result.notes), requests=dict(result.requests), billed=billed_of(plan, result), results=results,
    )


def results_text(results: dict[str, Any], billed: dict[str, Any] | None = None) -> str:
    """The Results block (see the module docstring); `billed`: this run's figures (`billed_of`)."""
    rows: list[tuple[str, str]] = []
    gallery = results["gallery"]
    if gallery["url"]:
        rows.append(("gallery", gallery["url"]))
    elif gallery["path"]:
        rows.append(("gallery", gallery["path"] + ("" if gallery["exists"] else "  (not written yet)")))
    project = results["project"]
    rows.append(("project", f"{project['name']}  " + (f"id {project['id']}" if project["id"] is not None else "(none)")))
    for kind, group in (("dataset", results["datasets"]), ("model", results["models"])):
        width = max((len(k) for k in group), default=0)
        for key, item in group.items():
            if item["id"] is None:
                rows.append((kind, f"{key:<{width}}  (none)"))
                continue
            version = f"  version {item['version']}" if item.get("version") else ""
            stale = "" if item["current"] else "  (an earlier version: the spec's is not made yet)"
            rows.append((kind, f"{key:<{width}}  id {item['id']}{version}  ({item['name']}){stale}"))
    counts = results["counts"]
    words = [("projects", "project"), ("datasets", "dataset"), ("models", "model"), ("images", "image"),
             ("videos", "video")]
    rows.append(("counts", ", ".join(f"{counts[k]} {one if counts[k] == 1 else k}" for k, one in words)))
    total, unknown = results["billed"]["requests"], results["billed"]["unknown_effect"]
    if billed is not None:
        calls = billed["planned"]["billed"] if billed["planned"] else 0
        line = f"this run: {billed['text']}" + (f" ({calls} billed call{'' if calls == 1 else 's'})" if calls else "")
        line += f" in {duration(billed['elapsed_seconds'])}"
        if billed["estimated_seconds"]:
            line += f"; at {billed['rate_per_minute']:g}/min its requests take {duration(billed['estimated_seconds'])}"
        rows.append(("billed", line))
    rows.append(("billed" if billed is None else "", f"generation requests billed in all: {total}"
                 + (f", {unknown} of unknown effect (answer lost)" if unknown else "")))
    return "\n".join(["Results:", *(f"  {head:<8}  {text}" for head, text in rows)])


def value_text(value: Any) -> str:
    """A NAME's value as `output` prints it: a scalar raw (for scripts), an object as lines."""
    if isinstance(value, dict):
        return "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}"
                         for k, v in value.items())
    return "" if value is None else str(value)


class UnknownOutput(BriaPipelineError):
    """`output SPEC NAME` with a NAME the results do not have."""


@click.command("output")
@backend_option
@each_spec(single=True)
@click.argument("name", required=False, metavar="[NAME]")
@spec_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema: `$defs/results` of result.schema.json).")
@click.pass_context
def output_command(ctx: click.Context, spec: Path, name: str | None, spec_inputs: SpecInputs, as_json: bool) -> None:
    """Print a spec's results: gallery, ids and versions, counts, billed requests. No API request.

    Read from the spec's state and output manifest (the backend's, when it has one), as the last
    apply or destroy left them. NAME picks one: gallery, project, datasets, dataset.KEY, models,
    model.KEY, counts, billed, or a field of one (model.KEY.id, model.KEY.version, counts.images,
    gallery.path); a plain value prints raw, for scripts. SPEC is a spec file or a directory.

    \b
    Examples:
      bria-pipeline output examples/lucy/spec.yaml
      bria-pipeline output examples/lucy/spec.yaml model.lucy-lora.id
      open "$(bria-pipeline output examples/lucy/spec.yaml gallery.path)"
      bria-pipeline output specs/ --json | jq '.[].models'
    """
    # with --sandbox the spec's own `backend:` is not the sandbox's (as for plan and apply): only
    # --backend or the environment name one, so no cloud store is asked for a sandbox's results
    results = _offline_pipeline(ctx, spec, spec_inputs, sandbox=root_obj(ctx).sandbox).results()
    if name is None:
        if as_json:
            emit_json(document("output", spec, results=results))
        else:
            click.echo(results_text(results))
        return
    try:
        value = lookup(results, name)
    except KeyError:
        known = names_of(results)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        raise UnknownOutput(f"{spec} has no output named {name!r}",
                            hint=(f"did you mean {' or '.join(close)}? " if close else "")
                            + f"names: {', '.join(NAMES)} (and their fields, e.g. model.KEY.id)") from None
    if as_json:
        emit_json(value)
    else:
        click.echo(value_text(value))


COMMANDS = [output_command]
