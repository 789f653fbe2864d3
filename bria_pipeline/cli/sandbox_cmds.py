"""`bria-pipeline sandbox ...`: run the local emulator of the Bria API."""

from __future__ import annotations

import functools

import click

from .main_group import diagnostics_of
from .terminal import route_logging

LOSE_MODES = ("drop", "502")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@click.group("sandbox")
def sandbox_group() -> None:
    """A local, offline emulator of Bria's Tailored Generation API.

    Every plan/apply/show/... command also takes --sandbox, which runs this emulator in
    process (persisted in .bria/sandbox.sqlite beside the spec): no server, no token.
    `sandbox serve` serves it over HTTP for other clients and processes.

    \b
    Examples:
      bria-pipeline sandbox serve --port 8000 --db .bria/sandbox.db
      bria-pipeline --api-url http://127.0.0.1:8000 plan spec.yaml   # any BRIA_API_TOKEN
    """


@sandbox_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--db", "db", type=click.Path(dir_okay=False), default=None,
              help="SQLite file to keep state in across restarts (files go to PATH.files/). Default: in memory.")
@click.option("--base-url", default=None, metavar="URL",
              help="Absolute root used in returned URLs (status_url, image_url). Default: the request's own.")
@click.option("--training-seconds", default=3.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a training takes per 750 steps (the API's default; 1500 steps take twice as long).")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Latency added to every API request.")
@click.option("--error-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of API requests answered 500 (before doing anything).")
@click.option("--rate-limit", default=None, type=click.IntRange(min=0), metavar="N",
              help="Requests per minute per token and endpoint; beyond: 429 with Retry-After.")
@click.option("--quota", default=None, type=click.IntRange(min=0), metavar="N",
              help="Total requests per token; beyond: 403 'Quota exceeded'.")
@click.option("--lose-response-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of POST/PUT/DELETE requests carried out whose response is then lost.")
@click.option("--lose-mode", type=click.Choice(LOSE_MODES), default="drop", show_default=True,
              help="How a response is lost: drop the connection, or answer 502.")
@click.option("--generation-error-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of generation jobs that end with status ERROR.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault decisions.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="uvicorn log level (info shows one line per request).")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, db: str | None, base_url: str | None, training_seconds: float,
                  latency_ms: float, error_rate: float, rate_limit: int | None, quota: int | None,
                  lose_response_rate: float, lose_mode: str, generation_error_rate: float, seed: int,
                  log_level: str) -> None:
    """Serve the sandbox over HTTP (uvicorn) until interrupted.

    Point any client at it: the SDK's base URL, the CLI's --api-url, or curl. Any non-empty
    api_token is an organization of its own. With --log-format json the server's log lines
    are JSON too.

    \b
    Examples:
      bria-pipeline sandbox serve --port 8000 --db .bria/sandbox.db
      curl -H 'api_token: any-token' http://127.0.0.1:8000/v1/tailored-gen/projects
      bria-pipeline sandbox serve --latency-ms 200 --error-rate 0.05 --rate-limit 60
    """
    from pathlib import Path

    from bria_pipeline.sandbox import FaultPlan, serve
    from bria_pipeline.sandbox.server import PortUnavailable, bind

    if db is not None:  # before the banner: a database it cannot keep fails at once, saying where
        folder = Path(db).absolute().parent
        if not folder.is_dir():
            raise click.ClickException(f"cannot keep the sandbox in {db}: the folder {folder} does not exist "
                                       f"(create it: mkdir -p {folder})")
    try:  # before the banner: a busy port fails at once, saying so
        sock = bind(host, port)
    except PortUnavailable as exc:
        raise click.ClickException(f"cannot serve the sandbox: {exc.strerror}") from None
    port = sock.getsockname()[1]
    faults = FaultPlan(seed=seed, latency_ms=latency_ms, error_rate=error_rate, rate_limit_per_minute=rate_limit,
                       quota=quota, lose_response_rate=lose_response_rate, lose_mode=lose_mode,
                       generation_error_rate=generation_error_rate)
    diag = diagnostics_of(ctx)
    shown = f"[{host}]" if ":" in host else host
    where = db or "memory (gone when stopped; use --db PATH to keep it)"
    diag.info(f"bria-pipeline sandbox on http://{shown}:{port}  (state: {where})")
    diag.info(f"  admin: http://{shown}:{port}/_sandbox/stats   stop: Ctrl+C")
    run = functools.partial(serve, host=host, port=port, db=db, sock=sock, log_level=log_level, faults=faults,
                            base_url=base_url, training_seconds=training_seconds)
    if not diag.json:
        run()
        return
    # uvicorn's own records, one JSON object per line like every other diagnostic
    route_logging(diag, UVICORN_LOGGERS)
    run(log_config=None)


COMMANDS = [sandbox_group]
