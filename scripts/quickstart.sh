#!/usr/bin/env bash
# Installs what is missing on a fresh Debian 12 machine and starts LIMEN on embedded defaults
# (PGlite under ./data, libvirt at qemu:///system), in the background: the api on 127.0.0.1:18443
# and the host-metrics agent on 127.0.0.1:9000 (they share a generated token in ./data).
# Prints the URLs and the admin credentials. Re-running restarts both with the same data.
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

stop_running() {
  local file="$1"
  if [ -f "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null; then
    log "stopping $(basename "$file" .pid) (pid $(cat "$file"))"
    kill "$(cat "$file")"
    while kill -0 "$(cat "$file")" 2>/dev/null; do sleep 0.2; done
  fi
}
stop_running "$DATA_DIR/agent.pid"
stop_running "$pidfile"

log "starting the agent (log: $DATA_DIR/agent.log)"
DATA_DIR="$DATA_DIR" nohup node dist/apps/agent/main.js >>"$DATA_DIR/agent.log" 2>&1 &
echo $! >"$DATA_DIR/agent.pid"
for _ in $(seq 1 40); do curl -fsS http://127.0.0.1:9000/health >/dev/null 2>&1 && break; sleep 0.25; done

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
  Agent:      http://127.0.0.1:9000/health (metrics via $base/agent/metrics, admins only)
  Logs:       $logfile, $DATA_DIR/agent.log
  Stop:       kill \$(cat $pidfile) \$(cat $DATA_DIR/agent.pid)
MSG
