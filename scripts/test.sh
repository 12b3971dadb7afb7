#!/usr/bin/env bash
# The whole test suite: unit tests and the integration tests that run real containers (root).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the tests need root (namespaces, mounts, cgroups)" >&2; exit 1; }
./scripts/deps.sh
cargo test --workspace
# A 30-second smoke of every fuzz target (bench-length runs: scripts/fuzz.sh 600).
./scripts/fuzz.sh 30
