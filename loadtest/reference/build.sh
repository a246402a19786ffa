#!/usr/bin/env bash
# Builds the reference baseline (naive_pipeline.c) into $SLUICE_HOME/bin/naive_pipeline.
# Compiled against Debian's headers (librdkafka-dev 2.0.2, libhiredis-dev 0.14); run it with
# librdkafka 2.16 first on the library path (source scripts/lib.sh: LD_LIBRARY_PATH=$SLUICE_HOME/lib).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../scripts/lib.sh"
mkdir -p "$SLUICE_HOME/bin"
# shellcheck disable=SC2046  # pkg-config output is a list of flags
gcc -O2 -Wall -o "$SLUICE_HOME/bin/naive_pipeline" "$here/naive_pipeline.c" \
  $(pkg-config --cflags --libs rdkafka hiredis)
echo "$SLUICE_HOME/bin/naive_pipeline"
