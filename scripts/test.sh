#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install what is missing, build, and run unit and
# integration tests. Integration tests start their own Redis and Tansu on free loopback ports
# (one fresh broker per test class) and stop them when done.
#   scripts/test.sh [extra swift test arguments, e.g. --filter SluiceCoreTests]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
cd "$SLUICE_ROOT"

"$here/setup.sh"
log "building and running the tests"
# A failed build must fail the run: `--skip-build` below would otherwise run stale test binaries.
build_log="$(mktemp)"
if ! swift build --build-tests >"$build_log" 2>&1; then
  grep -E 'error' "$build_log" | head -40 >&2
  rm -f "$build_log"
  log "build failed"
  exit 1
fi
grep -E 'warning: unre|Build' "$build_log" | grep -v '^\[' || true
rm -f "$build_log"
# The suites are XCTest; without Swift Testing, the runner's last line is XCTest's own total.
swift test --skip-build --disable-swift-testing "$@"
