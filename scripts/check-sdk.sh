#!/usr/bin/env bash
# The typed client (libs/sdk) against the committed spec: its generated schema must be what
# openapi-typescript (default options) makes of docs/openapi.json today, and the journey example
# must type-check under --strict. `npm run openapi` regenerates the spec and the schema together.
set -euo pipefail
cd "$(dirname "$0")/.."

generated="$(mktemp --suffix=.d.ts)"
trap 'rm -f "$generated"' EXIT
npx openapi-typescript docs/openapi.json -o "$generated" --silent
if ! diff -q libs/sdk/src/schema.d.ts "$generated" > /dev/null; then
  diff -u libs/sdk/src/schema.d.ts "$generated" | head -n 40
  echo "[check-sdk] libs/sdk/src/schema.d.ts is stale: regenerate it from docs/openapi.json (see above)" >&2
  exit 1
fi
npx tsc -p libs/sdk/tsconfig.json --strict --noEmit
echo "[check-sdk] schema up to date; the journey type-checks under --strict"
