#!/usr/bin/env bash
# Formatting, types and lint, as the test command runs them: Prettier (width 120), tsc over the
# whole tree (specs and e2e included: jest only transpiles) and over the dashboard, ESLint, and a
# probe showing the table-ownership rule refuses a service that injects DataSource.
set -uo pipefail
cd "$(dirname "$0")/.."

npx prettier --check --log-level warn "**/*.{ts,tsx,mts,js,mjs,cjs}" || exit 1
npx tsc -p tsconfig.json --noEmit || exit 1
# The dashboard (apps/web) is browser code: its own settings (DOM, JSX, bundler resolution).
npx tsc -p apps/web/tsconfig.json || exit 1
npx eslint --max-warnings 0 . || exit 1

probe='import { Injectable } from "@nestjs/common";
import { InjectDataSource } from "@nestjs/typeorm";
import { DataSource } from "typeorm";
@Injectable()
export class ProbeService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}
  count() { return this.dataSource.query("SELECT count(*) FROM vms"); }
}
'
check() { # $1: path the probe pretends to be at, $2: expected number of restricted-import errors
  local found
  found="$(printf '%s' "$probe" | npx eslint --stdin --stdin-filename "$1" --format json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].messages.filter(m=>m.ruleId==="no-restricted-imports").length))')"
  [ "$found" = "$2" ] || { echo "[lint] table-ownership probe at $1: $found restricted imports reported, expected $2" >&2; exit 1; }
}
check apps/api/src/vms/probe.service.ts 2
check apps/api/src/vms/probe.repository.ts 0
echo "[lint] formatting, lint and the table-ownership probe pass"
