#!/usr/bin/env bash
# Installs what is missing on a fresh Debian 12 machine and starts LIMEN on embedded defaults
# (PGlite under ./data, libvirt at qemu:///system), in the background, on 127.0.0.1:18443.
# Prints the URLs and the admin credentials. Re-running restarts the api with the same data.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[quickstart] %s\n' "$*" >&2; }

bash scripts/setup-host.sh
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  log "Node.js 20 or newer is required"; exit 1
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

DATA_DIR="${DATA_DIR:-$PWD/data}"
PORT="${PORT:-18443}"
mkdir -p "$DATA_DIR"
pidfile="$DATA_DIR/api.pid"
logfile="$DATA_DIR/api.log"

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "stopping the running api (pid $(cat "$pidfile"))"
  kill "$(cat "$pidfile")"
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.2; done
fi

log "starting the api (log: $logfile)"
DATA_DIR="$DATA_DIR" PORT="$PORT" nohup node dist/apps/api/main.js >>"$logfile" 2>&1 &
echo $! >"$pidfile"

base="http://127.0.0.1:$PORT"
for _ in $(seq 1 120); do
  curl -fsS "$base/health/ready" >/dev/null 2>&1 && break
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { log "the api exited; last log lines:"; tail -20 "$logfile" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$base/health/ready" >/dev/null || { log "the api did not become ready; see $logfile"; exit 1; }

password="$(grep -o 'generated password: [^ ]*' "$logfile" | tail -1 | cut -d' ' -f3 || true)"
cat <<MSG

LIMEN is running (pid $(cat "$pidfile")).
  API:        $base/api/v1
  Swagger UI: $base/docs
  Health:     $base/health/ready
  Admin:      ${ADMIN_USERNAME:-admin} / ${ADMIN_PASSWORD:-${password:-<set earlier; see the first start in $logfile>}}
  Logs:       $logfile
  Stop:       kill \$(cat $pidfile)
MSG
