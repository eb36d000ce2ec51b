#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test — unit
# tests (no root) and the root + network-namespace integration tests in Integration/Tests.
# Run as root; under CI=true the root-only tests fail instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source Integration/setup.sh

swift build --build-tests
# Parallel workers share 2 cores with the kernel work of the namespace tests; that is fine.
swift test --skip-build --disable-xctest "$@"
