# Shared helpers for the project's scripts; sourced, never run.
SLUICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLUICE_ROOT
export SLUICE_HOME="${SLUICE_HOME:-$SLUICE_ROOT/.sluice}"
# librdkafka >= 2.2 at run time (see docs/kafka.md); the engine refuses older versions.
export LD_LIBRARY_PATH="$SLUICE_HOME/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

log() { printf '[sluice] %s\n' "$*" >&2; }

# Prints a TCP port nobody listens on right now.
free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# wait_port PORT SECONDS: waits until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port="$1" deadline=$((SECONDS + $2))
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}
