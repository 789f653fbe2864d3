"""Helpers of the CLI tests: small specs on disk (the example's real images), and the CLI run
the way a user runs it (in process through click's runner, or as a child process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from bria_pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_IMAGES = REPO / "examples" / "lucy" / "images"
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


def write_spec(directory: Path, *, project: str, images: int = 6, broken: bool = False, complete: bool = False,
               name: str = "spec.yaml", model: bool = False, manual_caption: bool = True) -> Path:
    """A spec with `images` of the example's images; `broken` gives it an ip_type the API lacks."""
    (directory / "images").mkdir(parents=True, exist_ok=True)
    for source in sorted(EXAMPLE_IMAGES.glob("pose-*.png"))[:images]:
        shutil.copyfile(source, directory / "images" / source.name)
    samples = ", ".join(f"images/pose-{i:02d}.png" for i in range(1, 6))
    text = f"""version: 1
project:
  name: {project}
  ip_type: {'no_such_type' if broken else 'defined_character'}
  ip_medium: illustration
  ip_name: Lucy
  ip_description: a girl with purple hair
datasets:
  lucy:
    images:
      - path: images/*.png
    visual_schema:
      samples: [{samples}]
    complete: {str(complete).lower()}
"""
    if manual_caption:
        text += """    captions:
      images/pose-02.png:
        caption: {subject: Lucy waving, background: plain}
"""
    if model:
        text += """models:
  lucy-lora:
    dataset: lucy
    training_mode: expert
    training: {rank: 16, learning_rate: 0.0001, total_training_steps: 400, checkpoint_interval: 100}
"""
    path = directory / name
    path.write_text(text)
    return path
