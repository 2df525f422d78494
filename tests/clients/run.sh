#!/usr/bin/env bash
# The real Segment client libraries against `encharge-actions serve`, with
# fake-encharge playing Encharge, all on 127.0.0.1. Called by .ci/run.
#
# 1. segment-analytics-python and @segment/analytics-node send a few hundred
#    events; what fake-encharge receives must equal what `map` plans for the
#    events as serve queued them.
# 2. The server is killed with SIGKILL while the Python client sends one event
#    per request, then restarted: every event the client saw answered 200 must
#    reach fake-encharge.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
work="$root/target/client-tests"
rm -rf "$work/run" && mkdir -p "$work/run"
run="$work/run"

# Pinned client versions, installed under target/ (not needed by cargo test).
if [ ! -x "$work/venv/bin/python" ]; then python3 -m venv "$work/venv"; fi
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "segment-analytics-python==2.4.0"
cp package.json package-lock.json "$work/" 2>/dev/null || cp package.json "$work/"
(cd "$work" && npm ci --silent --no-audit --no-fund 2>/dev/null || npm install --silent --no-audit --no-fund)
py="$work/venv/bin/python"

cargo build --quiet --release -p encharge-runner -p fake-encharge --manifest-path "$root/Cargo.toml"
bin="$root/target/release/encharge-actions"
fake="$root/target/release/fake-encharge"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fake_port=$(free_port)
serve_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$fake" --port "$fake_port" --record "$run/received.ndjson" 2>"$run/fake.log" &
pids+=($!)
cat > "$run/config.yaml" <<YAML
version: 1
settings: { api_key: client-test-key, ingest_url: "http://127.0.0.1:$fake_port/v1", api_url: "http://127.0.0.1:$fake_port" }
subscriptions:
  - { name: Track Event, trigger: 'type = "track"', action: trackEvent }
  - { name: Identify User, trigger: 'type = "identify"', action: identifyUser }
  - { name: Track Page View, trigger: 'type = "page"', action: trackPageView }
  - { name: Create or Update Object, trigger: 'type = "group"', action: createUpdateObject }
  - name: Tag trial users
    trigger: 'type = "identify" and traits.plan = "trial"'
    action: addTag
    mapping: { tag: trial-user, email: { "@path": "\$.traits.email" } }
YAML

start_serve() {
  "$bin" serve --config "$run/config.yaml" --listen "127.0.0.1:$serve_port" --data-dir "$run/data" \
    --write-key client-test-wk --keep-delivered --backoff 50ms 2>>"$run/serve.log" &
  serve_pid=$!
  pids+=($serve_pid)
  for _ in $(seq 1 200); do
    if "$py" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$serve_port/healthz', timeout=1)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "serve did not start"; cat "$run/serve.log"; exit 1
}

metric() {
  "$py" - "$serve_port" "$1" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[-1])
PY
}

wait_drained() {
  for _ in $(seq 1 600); do
    if [ "$(metric encharge_queue_depth)" = "0" ] && [ "$(metric encharge_queue_appended_total)" -ge "$1" ]; then return 0; fi
    sleep 0.1
  done
  echo "the queue did not drain"; tail -20 "$run/serve.log"; exit 1
}

echo "== real clients: what arrives equals map's plan"
start_serve
"$py" send_python.py "http://127.0.0.1:$serve_port" client-test-wk 300
(cd "$work" && NODE_PATH="$work/node_modules" node "$root/tests/clients/send_node.js" "http://127.0.0.1:$serve_port" client-test-wk 300)
wait_drained 600
sleep 0.5  # fake-encharge writes its record every 100 ms
shopt -s nullglob
queued=("$run"/data/queue/delivered/*.ndjson "$run"/data/queue/*.ndjson)
shopt -u nullglob
"$bin" map --config "$run/config.yaml" "${queued[@]}" > "$run/planned.ndjson" 2>/dev/null || true
"$py" compare.py "$run/planned.ndjson" "$run/received.ndjson"

echo "== SIGKILL mid-stream: every acknowledged event arrives"
kill -9 "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
rm -rf "$run/data"
: > "$run/received.ndjson"
start_serve
"$py" send_python.py "http://127.0.0.1:$serve_port" client-test-wk 400 "$run/acked.txt" 2>"$run/python-kill.log" &
client=$!
pids+=($client)
sleep 1.5
kill -9 "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
sleep 0.5
start_serve
wait "$client" || true
for _ in $(seq 1 600); do [ "$(metric encharge_queue_depth)" = "0" ] && break; sleep 0.1; done
sleep 0.5
"$py" - "$run/acked.txt" "$run/received.ndjson" <<'PY'
import sys
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
received = open(sys.argv[2]).read()
missing = [a for a in acked if '"%s"' % a not in received]
print("%d events acknowledged, %d missing at Encharge" % (len(acked), len(missing)))
if not acked or missing:
    print("missing: %r" % missing[:10])
    sys.exit(1)
PY
echo "client tests: 2 passed, 0 failed"
