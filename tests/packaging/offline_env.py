"""Installing this checkout into a fresh virtual environment without a network.

The dependencies are already installed in the interpreter running the tests; a new environment
reaches them through PYTHONPATH (its own site-packages still receives the package under test),
pip is kept off any index, and the build runs without isolation against the installed
setuptools (the `test` extra pins a version that reads the SPDX license string).
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def offline_env(**extra: str) -> dict[str, str]:
    paths = sysconfig.get_paths()
    site = os.pathsep.join(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=site, PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONDONTWRITEBYTECODE="1", **extra)
    return env
