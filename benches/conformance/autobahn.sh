#!/usr/bin/env bash
# Autobahn|Testsuite (fuzzingclient, all cases but 12.* and 13.*, which are
# permessage-deflate, not offered by the server) against the production accept path.
# Uses kosoku, a Python runner of Autobahn's own case files (see MEASURED-PITFALLS.md).
# Exit status is non-zero when any case fails. Reports: target/autobahn/<engine>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! python3 -c 'import kosoku' 2>/dev/null; then
  python3 -m pip install --quiet kosoku==0.1.0
fi
# The console script lives in the interpreter's scripts directory (pyenv shims may lag).
kosoku="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kosoku"

# Each engine in turn: inline (on the JavaScript thread) and threads (engine threads).
for engine in inline threads; do
  log=$(mktemp)
  ENGINE=$engine PORT=0 node benches/conformance/echo-server.js >"$log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 50); do grep -q '^PORT ' "$log" && break; sleep 0.1; done
  port=$(sed -n 's/^PORT //p' "$log")
  [ -n "$port" ] || { cat "$log"; echo "echo server did not start"; exit 1; }

  out=target/autobahn/$engine
  rm -rf "$out"
  "$kosoku" -m fuzzingclient -x '12.*' -x '13.*' -o "$out" "ws://127.0.0.1:$port/ws"
  OUT=$out ENGINE=$engine python3 - <<'PY'
import collections, json, os
index = json.load(open(os.path.join(os.environ["OUT"], "index.json")))
counts = collections.Counter(r["behavior"] for cases in index.values() for r in cases.values())
print("autobahn (engine %s):" % os.environ["ENGINE"], dict(counts))
PY
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  rm -f "$log"
done
