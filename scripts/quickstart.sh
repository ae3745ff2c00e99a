#!/usr/bin/env bash
# Set up a fresh machine (Node 20 + npm) and run the main job: install the example pack with the CLI
# into the embedded SQLite store under $ATTUNE_HOME (default ~/.attune), then show what was recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
pnpm --silent attune pack install examples/packs/hello-world --force -o table
pnpm --silent attune pack list -o table
pnpm --silent attune pack verify hello_world -o table
