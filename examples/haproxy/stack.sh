#!/usr/bin/env bash
# Starts (or stops) the example stack on 127.0.0.1: three versions of a small HTTP service
# (old v2.3.0, new v2.4.0, and new-b v2.4.0-b for three-version deploys, weight 0 until a
# deploy gives it traffic) and HAProxy in front of them, with the runtime API on a Unix socket.
#
#   examples/haproxy/stack.sh start [RUN_DIR]    # prints the addresses
#   PROMETHEUS=1 examples/haproxy/stack.sh start # also Prometheus, scraping HAProxy every second
#   examples/haproxy/stack.sh fail 0.2 [RUN_DIR] [SERVER] # make new (or new-b) answer 20% 5xx
#   examples/haproxy/stack.sh stop [RUN_DIR]
#
# Ports: FRONT_PORT (default 18080), OLD_PORT (18081), NEW_PORT (18082), NEWB_PORT (18083), HAProxy's
# Prometheus exporter EXPORTER_PORT (18404), Prometheus PROMETHEUS_PORT (19090), and the
# runtime API on TCP as well as on the Unix socket, API_PORT (18999).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-start}"
if [[ "$cmd" == fail ]]; then rate="${2:?error rate, e.g. 0.2}"; run="${3:-$here/run}"; which="${4:-new}"; else run="${2:-$here/run}"; fi
front="${FRONT_PORT:-18080}"; old="${OLD_PORT:-18081}"; new="${NEW_PORT:-18082}"; newb="${NEWB_PORT:-18083}"
exporter="${EXPORTER_PORT:-18404}"; prom="${PROMETHEUS_PORT:-19090}"; api="${API_PORT:-18999}"

stop() {
  for f in "$run"/*.pid; do
    [[ -e "$f" ]] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

case "$cmd" in
  start)
    command -v haproxy >/dev/null || { echo "stack.sh: haproxy is not installed (apt-get install -y --no-install-recommends haproxy)" >&2; exit 1; }
    mkdir -p "$run"
    stop
    echo 0 > "$run/old.error_rate"
    echo 0 > "$run/new.error_rate"
    echo 0 > "$run/new-b.error_rate"
    # Output to files: a caller reading this script's output must not wait on the servers.
    python3 "$here/backend.py" --port "$old" --version v2.3.0 --error-rate-file "$run/old.error_rate" >"$run/old.log" 2>&1 </dev/null &
    echo $! > "$run/old.pid"
    python3 "$here/backend.py" --port "$new" --version v2.4.0 --error-rate-file "$run/new.error_rate" >"$run/new.log" 2>&1 </dev/null &
    echo $! > "$run/new.pid"
    python3 "$here/backend.py" --port "$newb" --version v2.4.0-b --error-rate-file "$run/new-b.error_rate" >"$run/new-b.log" 2>&1 </dev/null &
    echo $! > "$run/new-b.pid"
    # Backends first: a server that fails its first checks stays DOWN until two pass.
    for port in "$old" "$new" "$newb"; do
      for _ in $(seq 1 50); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
        sleep 0.1
      done
    done
    sed -e "s#@RUN@#$run#g" -e "s#@FRONT@#$front#g" -e "s#@OLD@#$old#g" -e "s#@NEW@#$new#g" -e "s#@NEWB@#$newb#g" -e "s#@PROM@#$exporter#g" -e "s#@API@#$api#g" "$here/haproxy.cfg.in" > "$run/haproxy.cfg"
    if ! haproxy -D -p "$run/haproxy.pid" -f "$run/haproxy.cfg" >"$run/haproxy.log" 2>&1 </dev/null; then
      echo "stack.sh: haproxy did not start (ports $front, $exporter, $api):" >&2; cat "$run/haproxy.log" >&2; stop; exit 1
    fi
    for _ in $(seq 1 50); do [[ -S "$run/admin.sock" ]] && break; sleep 0.1; done
    echo "frontend http://127.0.0.1:$front  runtime API $run/admin.sock and 127.0.0.1:$api  backend app: old=v2.3.0 new=v2.4.0 new-b=v2.4.0-b"
    if [[ "${PROMETHEUS:-0}" == 1 ]]; then
      command -v prometheus >/dev/null || { echo "stack.sh: prometheus is not installed (apt-get install -y --no-install-recommends prometheus)" >&2; exit 1; }
      cat > "$run/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: haproxy
    static_configs:
      - targets: ["127.0.0.1:$exporter"]
YML
      prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/prometheus-data" \
        --web.listen-address="127.0.0.1:$prom" >"$run/prometheus.log" 2>&1 </dev/null &
      echo $! > "$run/prometheus.pid"
      for _ in $(seq 1 100); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$prom/-/ready', timeout=0.5)" 2>/dev/null && break
        sleep 0.1
      done
      echo "prometheus http://127.0.0.1:$prom (scraping HAProxy's exporter on 127.0.0.1:$exporter every second)"
    fi
    ;;
  fail)
    case "$which" in
      new) version=v2.4.0 ;;
      new-b) version=v2.4.0-b ;;
      *) echo "stack.sh: fail RATE RUN_DIR SERVER: SERVER is new or new-b, not $which" >&2; exit 2 ;;
    esac
    echo "$rate" > "$run/$which.error_rate"
    echo "$version now answers $rate of requests with 500"
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: stack.sh start|fail RATE|stop [RUN_DIR] (fail RATE RUN_DIR new-b for the third version)" >&2; exit 2 ;;
esac
