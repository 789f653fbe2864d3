#!/usr/bin/env bash
# Azurite, Azure Storage's emulator, for the az:// backend tests, from the npm registry.
set -euo pipefail
command -v azurite >/dev/null && exit 0
npm install -g --no-audit --no-fund --loglevel=error azurite
command -v azurite
