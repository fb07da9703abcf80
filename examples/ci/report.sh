#!/bin/sh
# A CI job that reports its own stages to a friday deploy whose [pipeline] is external:
#   examples/ci/report.sh checkout-v2.4.0            (on the engine's machine: its socket)
#   FRIDAY_TOKEN=… examples/ci/report.sh --tcp deploy-host:7070
# Each stage's output goes to friday line by line; its exit status decides the stage.
set -u
target="$@"

event() { # event TYPE JSON-DATA
  printf '{"type":"%s","data":%s}\n' "$1" "$2"
}

json_string() { # a shell string as a JSON string (quotes, backslashes, controls)
  printf '%s' "$1" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()), end="")'
}

stage() { # stage NAME COMMAND...
  name=$1; shift
  event stage.started "{\"stage\":$(json_string "$name")}"
  start=$(date +%s)
  # The stage's output, each line as an event; the status comes back through a file.
  status_file=$(mktemp)
  { "$@" 2>&1; echo $? > "$status_file"; } | while IFS= read -r line; do
    event stage.output "{\"stage\":$(json_string "$name"),\"line\":$(json_string "$line")}"
  done
  status=$(cat "$status_file"); rm -f "$status_file"
  result=succeeded; [ "$status" = 0 ] || result=failed
  event stage.finished "{\"stage\":$(json_string "$name"),\"status\":\"$result\",\"seconds\":$(( $(date +%s) - start ))}"
  [ "$status" = 0 ]
}

{
  stage build sh -c 'echo "building $0"; sleep 1; echo "image ready"' checkout &&
  stage test sh -c 'echo "unit: ok"; echo "integration: ok"'
} | friday ingest $target
