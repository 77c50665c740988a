#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine or an already prepared one:
#   host setup (QEMU, libvirt, daemons), PostgreSQL, the test guest and the Debian cloud image
#   (both cached), npm ci, build, then lint (format, types, ESLint) and the API contract checks
#   (the spec's lint, the typed client) with the Debian-guest suites (reachability: SSH; the
#   remote host without shared storage; disks in the guest) and the dashboard's Playwright suite
#   (test/web) in the background beside them, unit
#   tests, the libvirt contract suite, the e2e suite twice (embedded PGlite, real PostgreSQL),
#   then the reliability suite (faults, load, properties, a simulated host reboot) alone. Every
#   stage runs even if an earlier one failed; the last line sums them up.
set -uo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }
fail() { printf '[test] %s\n' "$*" >&2; exit 1; }

step "host setup"
bash scripts/setup-host.sh || fail "host setup failed"
bash scripts/ensure-postgres.sh || fail "PostgreSQL setup failed"
bash scripts/build-test-guest.sh || fail "test guest build failed"
bash scripts/build-cloud-image.sh || fail "cloud image build failed (scripts/build-cloud-image.sh)"

step "npm ci and build"
npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed"
npm run build --silent || fail "build failed"

results="$(mktemp -d)"
status=0
run_jest() {
  local name="$1"; shift
  step "$name"
  npx jest "$@" --json --outputFile="$results/$name.json" || status=1
}

# A check that is not a jest run (a linter, a type-check) counts in the summary as one test.
run_check() {
  local name="$1"; shift
  step "$name"
  local passed=1
  "$@" || { passed=0; status=1; }
  printf '{"numPassedTests":%d,"numFailedTests":%d,"numPendingTests":0}\n' "$passed" "$((1 - passed))" > "$results/$name.json"
}

pg_url="postgres://root@127.0.0.1:5432/test"

# The Debian-guest suites boot Debian cloud guests under TCG and spend minutes waiting for them:
# reachability (issue 14: SSH through a port forward, isolated networks, NIC hot-plug), the remote
# host (issue 15: a second libvirtd in a private mount namespace, storage the api cannot see, disks
# hot-plugged and grown), disks as the guest sees them (lsblk after hot-plug, live growth and
# unplug) and copies (issue 16: a marker through backup and restore, clones' identities). They
# share nothing with the static checks and the unit tests below (no database, no libvirt, no
# ports), so they run in the background beside those, once, one after the other, on the real
# PostgreSQL (the e2e passes skip them); their output follows the unit tests'.
guest_suites=(test/reachability.e2e-spec.ts test/remote-host.e2e-spec.ts test/disks-guest.e2e-spec.ts
  test/copies-guest.e2e-spec.ts)
reach_log="$(mktemp)"
step "Debian guests (started in the background; their output follows the checks)"
TEST_DATABASE_URL="$pg_url" npx jest --config jest.e2e.config.js --runInBand --json \
  --outputFile="$results/debian-guests.json" "${guest_suites[@]}" >"$reach_log" 2>&1 &
reach_pid=$!

# The dashboard in Debian's Chromium (Playwright, test/web): its own api process, database and
# libvirt pools, so it too runs in the background beside the checks; its summary is converted to
# the jest shape the summary below reads.
web_log="$(mktemp)"
step "dashboard (started in the background; its output follows the checks)"
PLAYWRIGHT_JSON_OUTPUT_NAME="$results/web.playwright" TEST_DATABASE_URL="$pg_url" \
  npx playwright test --config test/web/playwright.config.ts >"$web_log" 2>&1 &
web_pid=$!

# Formatting, types, lint and the table-ownership rule (scripts/lint.sh).
run_check lint bash scripts/lint.sh
# The committed spec, by Redocly's recommended rules with warnings as errors (redocly.yaml).
run_check openapi-lint npx redocly lint --format=stylish docs/openapi.json
# The typed client: its schema regenerated from the spec matches the committed one, and the journey type-checks.
run_check sdk bash scripts/check-sdk.sh

# The property suites (fast-check) take their seed from the commit under test: every commit
# explores new inputs, yet a run repeats exactly, and a failure replays with the FC_SEED it prints.
if [ -z "${FC_SEED:-}" ] && commit="$(git rev-parse HEAD 2>/dev/null)"; then
  export FC_SEED="$((16#${commit:0:7}))"
  printf '[test] property seed FC_SEED=%s (commit %s)\n' "$FC_SEED" "${commit:0:7}"
fi
run_jest unit --config jest.unit.config.js

step "Debian guests"
wait "$reach_pid" || status=1
cat "$reach_log"
rm -f "$reach_log"

step "dashboard"
wait "$web_pid" || status=1
cat "$web_log"
rm -f "$web_log"
node -e '
  const fs = require("fs");
  let report = { stats: { expected: 0, unexpected: 1, skipped: 0, flaky: 0 }, suites: [] };
  try { report = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
  // Each failed test with its error, for the summary (as jest results carry theirs).
  const failures = [];
  const walk = (suite, path) => {
    for (const child of suite.suites ?? []) walk(child, [...path, child.title]);
    for (const spec of suite.specs ?? [])
      for (const t of spec.tests ?? [])
        if (t.status === "unexpected")
          failures.push({ name: [...path, spec.title].join(" › "),
            message: (t.results ?? []).map((r) => r.error?.message ?? "").filter(Boolean).pop() ?? "" });
  };
  for (const suite of report.suites ?? []) walk(suite, [suite.title]);
  const s = report.stats;
  fs.writeFileSync(process.argv[2], JSON.stringify({ numPassedTests: s.expected + s.flaky,
    numFailedTests: s.unexpected, numPendingTests: s.skipped, failures }));
' "$results/web.playwright" "$results/web.json"
rm -f "$results/web.playwright"

run_jest libvirt --config jest.int.config.js --runInBand
run_jest e2e-pglite --config jest.e2e.config.js --maxWorkers=2 \
  --testPathIgnorePatterns reachability.e2e-spec.ts remote-host.e2e-spec.ts disks-guest.e2e-spec.ts \
  copies-guest.e2e-spec.ts
TEST_DATABASE_URL="$pg_url" run_jest e2e-postgres --config jest.e2e.config.js --maxWorkers=2 \
  --testPathIgnorePatterns process.e2e-spec.ts reachability.e2e-spec.ts remote-host.e2e-spec.ts \
  disks-guest.e2e-spec.ts copies-guest.e2e-spec.ts
TEST_DATABASE_URL="$pg_url" run_jest reliability --config jest.reliability.config.js --runInBand

step "summary"
node -e '
  const fs = require("fs"), path = require("path");
  let passed = 0, failed = 0, skipped = 0;
  const failures = [];
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(path.join(process.argv[1], file), "utf8"));
    const stage = path.basename(file, ".json");
    console.log(`${stage}: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numFailedTestSuites ? ` (${r.numFailedTestSuites} suites failed)` : ""));
    passed += r.numPassedTests; failed += r.numFailedTests + (r.numRuntimeErrorTestSuites || 0); skipped += r.numPendingTests;
    for (const f of r.failures ?? []) failures.push(`${stage}: ${f.name}\n    ${f.message}`);
    for (const suite of r.testResults ?? []) {
      const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === "failed");
      for (const t of failedTests) failures.push(`${stage}: ${t.fullName}\n    ${(t.failureMessages ?? [])[0] ?? ""}`);
      if (!failedTests.length && suite.status === "failed") failures.push(`${stage}: ${suite.name}\n    ${suite.message}`);
    }
  }
  // The failures again at the very end (a long log may be read from its tail only), each cut short.
  const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(0, 8).join("\n    ").slice(0, 1200);
  if (failures.length) console.log(`\nfailed:\n${failures.map(plain).join("\n")}\n`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results"
# Every stage must have left its result: 6 jest runs, 3 checks and the dashboard's suite.
[ "$(ls "$results" | wc -l)" -eq 10 ] || status=1
exit "$status"
