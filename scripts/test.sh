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
swift build --build-tests 2>&1 | grep -E 'error|warning: unre|Compiling|Build' | grep -v '^\[' || true
# The suites are XCTest; without Swift Testing, the runner's last line is XCTest's own total.
swift test --skip-build --disable-swift-testing "$@"
