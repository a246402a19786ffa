#!/usr/bin/env bash
# The main job, from a fresh machine: install what is missing, start Redis and Tansu on free
# loopback ports, build sluice (release), create the topics, stream generated e-commerce events
# through the pipeline, print what it decided and how fast, and stop everything it started.
#   scripts/demo.sh [--events N] [--rate EVENTS_PER_S]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
cd "$SLUICE_ROOT"

events=100000
rate=0   # 0 = produce as fast as possible while the pipeline runs
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    *) echo "usage: $0 [--events N] [--rate EVENTS_PER_S]" >&2; exit 2 ;;
  esac
done

"$here/setup.sh"
trap '"$here/services.sh" stop' EXIT
"$here/services.sh" start
source "$SLUICE_HOME/run/env"

log "building sluice (release)"
swift build -c release --product sluice 2>&1 | grep -vE '^(\[|Building|Compiling|Write|Linking|Planning)' | grep -v 'prohibited flag' || true
bin="$(swift build -c release --show-bin-path)/sluice"

topology=topologies/returns-fraud.yaml
config=config/local.yaml
"$bin" topics --topology "$topology" --config "$config"

log "starting the pipeline; producing $events events"
"$bin" run --topology "$topology" --config "$config" --max-records "$events" > "$SLUICE_HOME/run/summary.txt" 2> "$SLUICE_HOME/run/sluice.log" &
pipeline=$!
"$bin" generate --events "$events" --users 5000 --days 5 --rate "$rate" --topic events
if ! wait "$pipeline"; then
  log "the pipeline failed; last log lines:"
  tail -20 "$SLUICE_HOME/run/sluice.log" >&2
  exit 1
fi
cat "$SLUICE_HOME/run/summary.txt"
