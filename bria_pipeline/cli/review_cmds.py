"""`bria-pipeline review SPEC`: the dataset review sheet, before a dataset is completed (frozen).
`bria-pipeline review serve SPEC`: the review server (gallery and training images, with buttons
that edit the spec's decisions file)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..reports.review import DUPLICATE, UPSCALED, problems
from ..pipeline import Pipeline
from ..errors import BriaPipelineError
from .pipeline_options import diagnostics, make_pipeline, report_requests, require_api, run_pipeline, sandbox_flag
from .terminal import route_logging
from .spec_cmds import SpecInputs, spec_options

GROUPED = (UPSCALED, DUPLICATE)  # flags that carry details: counted under their common head


class ReviewGroup(click.Group):
    """`review SPEC` writes the sheet (as it always did); `review serve SPEC` runs the server."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["sheet", *args]
        return super().parse_args(ctx, args)


@click.group("review", cls=ReviewGroup)
def review_command() -> None:
    """Write the dataset review sheet; `review serve`: approve and reject outputs in a browser.

    \b
    Examples:
      bria-pipeline review examples/lucy/spec.yaml          # the dataset review sheet (HTML)
      bria-pipeline review serve examples/lucy/spec.yaml    # approve/reject in a browser
    """


@review_command.command("sheet")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@spec_options
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="Where to write the sheet (default: .bria/<spec>/review.html beside the spec).")
@sandbox_flag
@click.pass_context
def sheet_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, out: Path | None, local_sandbox: bool) -> None:
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


@review_command.command("serve")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@spec_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but the loopback address needs --allow-remote.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (printed).")
@click.option("--allow-remote", is_flag=True, help="Allow --host to be another address than 127.0.0.1.")
@sandbox_flag
@click.pass_context
def serve_command(ctx: click.Context, spec: Path, spec_inputs: SpecInputs, host: str, port: int, allow_remote: bool,
                  local_sandbox: bool) -> None:
    """Serve the gallery and the training images to approve, reject, note and exclude.

    Every output of the spec, each model version the manifest still holds side by side,
    with approve/reject buttons, notes, keyboard shortcuts (j/k move, a approve, r reject,
    u clear, n note, c mark, z zoom both), filters, and the training images in a side panel
    (t). Each click rewrites SPEC's decisions file (spec.decisions.yaml beside it), nothing
    else: commit it and open a pull request; plan and apply obey it. Listens on 127.0.0.1
    only; writes need this run's token (in the served page). The dataset review sheet is at
    /sheet. With an API token (or --sandbox) it reads the service once at start (the datasets'
    captions, the project's models, to label each earlier model version with the training
    parameters that differ); without one it reads no API.

    \b
    Examples:
      bria-pipeline review serve examples/lucy/spec.yaml
      bria-pipeline review serve examples/lucy/spec.yaml --port 8765
      git add examples/lucy/spec.decisions.yaml && git commit -m "Review: week 3"
    """
    import secrets

    import uvicorn

    from ..commands.review import review_site
    from ..reports.review_server import listening_socket, review_app
    from .sandbox_cmds import UVICORN_LOGGERS

    if host not in ("127.0.0.1", "localhost", "::1") and not allow_remote:
        raise click.UsageError(f"--host {host} would let other machines reach the review server; "
                               "add --allow-remote to mean it, or leave --host out (127.0.0.1)")
    pipeline = make_pipeline(ctx, spec, spec_inputs, sandbox=local_sandbox)
    try:
        token = secrets.token_urlsafe(24)
        params = reviews = None
        try:
            require_api(ctx, local_sandbox)
            reviews = pipeline.review_datasets()
            params = pipeline.review_model_parameters()
        except BriaPipelineError as exc:  # no token, or the API cannot be read: the spec alone
            diagnostics(ctx).info("the service was not read (captions are the spec's, earlier model versions are "
                                  f"labelled without their training parameters): {exc.message}")
        site = review_site(pipeline.workspace, token, params, reviews)
        if host not in ("127.0.0.1", "localhost", "::1"):
            site.allowed_hosts = ()  # --allow-remote: asked for by any name this machine has
        sock = listening_socket(host, port)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"Reviewing {spec} at http://{shown}:{bound}/ (decisions go to {site.decisions.path.name}; Ctrl-C stops)")
        sys.stdout.flush()
        route_logging(diagnostics(ctx), UVICORN_LOGGERS)
        config = uvicorn.Config(review_app(site), log_level="warning", access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        pipeline.close()


COMMANDS = [review_command]
