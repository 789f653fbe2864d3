"""The wheel, as a company adopting bria-pipeline installs it: built from a clean copy of the
sources, installed into a fresh virtual environment, then used to apply the example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bria_pipeline.cli import main
from offline_env import REPO, offline_env

pytestmark = pytest.mark.timeout(240)

SOURCES = shutil.ignore_patterns(".git", ".bria", "build", "dist", "*.egg-info", "__pycache__", "outputs", ".venv")


def test_packaged_plan_schema_is_the_repository_one_and_schema_plan_prints_it() -> None:
    packaged = REPO / "bria_pipeline" / "data" / "plan.schema.json"
    assert packaged.read_bytes() == (REPO / "schemas" / "plan.schema.json").read_bytes(), (
        "the packaged plan schema differs: python tools/plan_schema.py (it writes both)")
    printed = CliRunner().invoke(main, ["schema", "--plan"])
    assert printed.exit_code == 0 and json.loads(printed.output)["$schema"].endswith("2020-12/schema")
    assert printed.output == packaged.read_text(encoding="utf-8")


def test_the_wheel_installs_into_a_fresh_venv_and_applies_the_example(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=SOURCES)
    env = offline_env()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
                   env=env, check=True, capture_output=True, timeout=120)
    (wheel,) = (tmp_path / "dist").glob("bria_pipeline-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"bria_pipeline/py.typed", "bria_pipeline/data/plan.schema.json", "bria_pipeline/data/spec.schema.json"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata and "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: " in metadata

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   env=env, check=True, capture_output=True, timeout=120)
    # the dependencies: this environment's, appended after the new venv's own site-packages by a .pth
    # file, so the package itself can only come from the wheel
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    paths = sysconfig.get_paths()
    (site / "outer-dependencies.pth").write_text("\n".join(dict.fromkeys([paths["purelib"], paths["platlib"]])) + "\n")
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BRIA_API_TOKEN", "BRIA_API_URL")}
    run_env["NO_COLOR"] = "1"
    cli = venv / ("Scripts/bria-pipeline.exe" if os.name == "nt" else "bin/bria-pipeline")

    where = subprocess.check_output([str(python), "-c", "import bria_pipeline; print(bria_pipeline.__file__)"],
                                    env=run_env, text=True, cwd=tmp_path).strip()
    assert Path(where).is_relative_to(venv), where
    plan_schema = subprocess.run([str(cli), "schema", "--plan"], env=run_env, capture_output=True, text=True, timeout=60,
                                 cwd=tmp_path)
    assert plan_schema.stdout == (REPO / "schemas" / "plan.schema.json").read_text(encoding="utf-8")

    example = tmp_path / "lucy"
    shutil.copytree(REPO / "examples" / "lucy", example, ignore=shutil.ignore_patterns(".bria", "outputs"))
    done = subprocess.run([str(cli), "--sandbox", "apply", str(example / "spec.yaml"), "--auto-approve"],
                          env=run_env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apply complete" in done.stdout + done.stderr
    assert (example / "outputs" / "index.html").is_file()  # the gallery's templates came with the wheel
    manifest = json.loads((example / "outputs" / "manifest.json").read_text())
    assert manifest
