"""`bria-pipeline review SPEC`: the dataset review sheet, before a dataset is completed (frozen)."""

from __future__ import annotations

from pathlib import Path

import click

from ..reports.review import DUPLICATE, UPSCALED, problems
from ..pipeline import Pipeline
from .pipeline_options import diagnostics, report_requests, run_pipeline, sandbox_flag
from .run_summary import each_spec
from .spec_cmds import SpecInputs, spec_options

GROUPED = (UPSCALED, DUPLICATE)  # flags that carry details: counted under their common head


@click.command("review")
@each_spec
@spec_options
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="Where to write the sheet (default: .bria/<spec>/review.html beside the spec).")
@sandbox_flag
@click.pass_context
def review_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, out: Path | None, local_sandbox: bool) -> None:
    """Write the dataset review sheet: every training image with its caption, flagged problems.

    One HTML page that opens from disk: each dataset of the spec, every image (thumbnail,
    size, name in the dataset) with its caption and where it came from (automatic or manual),
    and flags: no caption yet, not uploaded yet, caption not valid JSON, duplicate-looking
    captions, small images that will be upscaled, manual captions and refinements not sent yet.
    Works before the dataset exists (the spec's images, "no caption yet") and after the upload
    (the captions the service wrote). Reads only; prints the sheet's path on stdout.

    \b
    Examples:
      bria-pipeline review examples/lucy/spec.yaml
      bria-pipeline --sandbox review examples/lucy/spec.yaml --out review.html
      bria-pipeline apply spec.yaml --target dataset.lucy.captions   # upload, caption; still a draft
    """
    pipeline, reviews = run_pipeline(ctx, spec, spec_inputs, local_sandbox, Pipeline.review_datasets)
    path = pipeline.write_review(reviews, out)
    report_requests(ctx, reviews.requests, "review", backend=pipeline.backend_requests)
    diag = diagnostics(ctx)
    for review in reviews:
        found = problems(review.images)
        flagged = sum(1 for f in found if f)
        counts: dict[str, int] = {}
        for flags in found:
            for flag in flags:
                head = next((known for known in GROUPED if flag.startswith(known)), flag.split(" (", 1)[0])
                counts[head] = counts.get(head, 0) + 1
        listed = "; ".join(f"{n} {text}" for text, n in sorted(counts.items()))
        diag.info(f"dataset.{review.name}: {len(review.images)} images, {flagged} flagged" + (f" ({listed})" if listed else ""),
                  dataset=review.name, images=len(review.images), flagged=flagged, flags=counts)
    click.echo(str(path))


COMMANDS = [review_command]
