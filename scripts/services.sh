#!/usr/bin/env bash
# Starts or stops the local Redis and Tansu (Kafka-compatible) broker on free loopback ports.
#   scripts/services.sh start   -> writes $SLUICE_HOME/run/env (source it for the addresses)
#   scripts/services.sh stop
#   scripts/services.sh status
# Both servers keep nothing on disk: Tansu stores in memory, Redis runs without persistence.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

run_dir="$SLUICE_HOME/run"
env_file="$run_dir/env"

stop_pid() {
  local file="$1"
  [ -f "$file" ] || return 0
  local pid
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

case "${1:-}" in
  start)
    "$here/services.sh" stop
    mkdir -p "$run_dir"
    redis_port="$(free_port)"
    redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
      --daemonize no --logfile "$run_dir/redis.log" >/dev/null 2>&1 &
    echo $! > "$run_dir/redis.pid"
    kafka_port="$(free_port)"
    "$SLUICE_HOME/bin/tansu" broker \
      --listener-url "tcp://127.0.0.1:$kafka_port" \
      --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
      --storage-engine "memory://tansu/" >"$run_dir/tansu.log" 2>&1 &
    echo $! > "$run_dir/tansu.pid"
    wait_port "$redis_port" 20 || { log "redis did not start: $(tail -5 "$run_dir/redis.log")"; exit 1; }
    wait_port "$kafka_port" 20 || { log "tansu did not start: $(tail -5 "$run_dir/tansu.log")"; exit 1; }
    cat > "$env_file" <<EOF
export SLUICE_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$kafka_port
export SLUICE_REDIS_URL=redis://127.0.0.1:$redis_port/0
export SLUICE_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$kafka_port
export SLUICE_TEST_REDIS_PORT=$redis_port
EOF
    log "redis on 127.0.0.1:$redis_port, tansu on 127.0.0.1:$kafka_port (env: $env_file)"
    ;;
  stop)
    stop_pid "$run_dir/tansu.pid"
    stop_pid "$run_dir/redis.pid"
    rm -f "$env_file"
    ;;
  status)
    for name in redis tansu; do
      if [ -f "$run_dir/$name.pid" ] && kill -0 "$(cat "$run_dir/$name.pid")" 2>/dev/null; then
        echo "$name: running (pid $(cat "$run_dir/$name.pid"))"
      else
        echo "$name: stopped"
      fi
    done
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
