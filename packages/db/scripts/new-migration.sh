#!/usr/bin/env bash
# Writes the next migration of BOTH providers from the models in prisma/models.
# Usage (from packages/db): DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<scratch db> \
#   pnpm migration:new <name>
# The PostgreSQL diff needs a reachable server (it creates and drops a shadow database there;
# the database named in DATABASE_URL is not changed). Nothing is applied anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: new-migration.sh <name>}
if ! [[ $name =~ ^[a-z0-9_]+$ ]]; then echo "name must match ^[a-z0-9_]+$" >&2; exit 2; fi
: "${DATABASE_URL:?set DATABASE_URL to a scratch PostgreSQL database (used for the shadow database)}"
ts=$(date -u +%Y%m%d%H%M%S)
for p in sqlite postgres; do
  out=../../prisma/$p/migrations/${ts}_${name}
  sql=$(SQLITE_URL=file::memory: ./node_modules/.bin/prisma migrate diff --config prisma.$p.config.ts \
    --from-migrations ../../prisma/$p/migrations --to-schema-datamodel ../../prisma/$p --script)
  if [ -z "$(printf '%s' "$sql" | grep -v '^-- This is an empty migration.' | tr -d '[:space:]')" ]; then
    echo "$p: no changes"
    continue
  fi
  mkdir -p "$out" && printf '%s\n' "$sql" >"$out/migration.sql" && echo "wrote $out/migration.sql"
done
node scripts/embed-migrations.mjs
