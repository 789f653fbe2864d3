"""A local emulator of Bria's Tailored Generation API (v1 management, v2 generation and status).

    app = create_app(db=".bria/sandbox.db", clock=ManualClock(), faults=FaultPlan(seed=1))
    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")

    with running(app) as base_url:          # uvicorn on 127.0.0.1, a free port
        ...

    with LocalSandbox(".bria/sandbox.sqlite") as sandbox:   # in process, handed in as a transport
        Pipeline("spec.yaml", sandbox=True, transport=sandbox.transport())

The core of bria-pipeline never imports this package; the CLI and the tests do.
"""

from bria_pipeline.sandbox.app import create_app
from bria_pipeline.sandbox.clock import Clock, ManualClock, ScaledClock, WallClock
from bria_pipeline.sandbox.faults import FaultPlan, FaultPlanError
from bria_pipeline.sandbox.local import LocalSandbox
from bria_pipeline.sandbox.server import running, serve

__all__ = ["create_app", "LocalSandbox", "Clock", "ManualClock", "ScaledClock", "WallClock", "FaultPlan", "FaultPlanError",
           "running", "serve"]
