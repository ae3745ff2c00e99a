#!/usr/bin/env bash
# Set up a fresh machine that has Node 20 and npm: pnpm 12.4.2, the workspace's dependencies, a build.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1
# pnpm keeps only auth/registry keys of .npmrc, so node-gyp (better-sqlite3) must get the headers dir from the env
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_version.h ]; then export npm_config_nodedir=/usr; fi
if [ "$(pnpm --version 2>/dev/null || true)" != "12.4.2" ]; then
  npm install -g --allow-scripts=pnpm pnpm@12.4.2 >&2
fi
pnpm install --frozen-lockfile >&2
pnpm exec turbo run build --output-logs=errors-only >&2
