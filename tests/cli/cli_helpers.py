"""Helpers of the CLI tests: small specs on disk (the example's real images), and the CLI run
the way a user runs it (in process through click's runner, or as a child process)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner, Result
from example_spec import EXAMPLE_IMAGES, lucy_spec

from bria_pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "bria_pipeline"]
SCRIPT = Path(sys.executable).parent / "bria-pipeline"  # the installed console script, named as users type it


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """The CLI in process; stdout and stderr apart, exceptions left to the CLI's own handling."""
    return CliRunner().invoke(main, list(args), env=env, input=input, prog_name="bria-pipeline")


def run_child(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60,
              script: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI as a child process, stdout and stderr piped (so neither is a terminal);
    `script`: through the installed `bria-pipeline` script rather than `python -m`."""
    full_env = {**os.environ, **(env or {})}
    command = [str(SCRIPT)] if script else CLI
    return subprocess.run(command + list(args), capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 60,
                    answer: tuple[str, str] | None = None) -> tuple[int, str]:
    """The CLI with stdout and stderr on a pseudo-terminal, as in an interactive shell; with
    `answer` (prompt, text), stdin too, and the text typed when the prompt shows."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update({"TERM": "xterm-256color", "COLUMNS": "120"}, **env)
    stdin = slave if answer is not None else subprocess.DEVNULL
    proc = subprocess.Popen(CLI + args, stdin=stdin, stdout=slave, stderr=slave, env=full_env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
                if answer is not None and answer[0].encode() in b"".join(chunks):
                    os.write(master, answer[1].encode() + b"\n")
                    answer = None
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"{args} did not finish in {timeout} s")
    finally:
        os.close(master)
    if answer is not None:
        raise AssertionError(f"the prompt {answer[0]!r} never showed:\n{b''.join(chunks).decode(errors='replace')}")
    return proc.wait(timeout=10), b"".join(chunks).decode("utf-8", errors="replace")


def write_spec(directory: Path, *, project: str, images: int = 6, broken: bool = False, complete: bool = False,
               name: str = "spec.yaml", model: bool = False, manual_caption: bool = True) -> Path:
    """A spec with `images` of the example's images; `broken` gives it an ip_type the API lacks."""
    (directory / "images").mkdir(parents=True, exist_ok=True)
    for source in sorted(EXAMPLE_IMAGES.glob("pose-*.png"))[:images]:
        shutil.copyfile(source, directory / "images" / source.name)
    training = {"rank": 16, "learning_rate": 0.0001, "total_training_steps": 400, "checkpoint_interval": 100}
    text = lucy_spec(project=project, ip_type="no_such_type" if broken else "defined_character", refine=False,
                     complete=complete, captions=("caption",) if manual_caption else (),
                     training=training if model else None)
    path = directory / name
    path.write_text(text)
    return path
