#!/usr/bin/env bash
# Headless Chromium for the browser tests (gallery, review server), from Debian's packages.
set -euo pipefail
command -v chromium >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
