#!/usr/bin/env bash
# Crash trials: every operation (pull, load, import, build, create, start, run --rm, a shim,
# commit, cp, rm, rmi, prune, network create/connect, a run through the daemon) killed with
# SIGKILL at a random moment of its run, TRIALS times each (default 100); after each, the
# store is judged by `berth system check` and the host searched for leaked mounts, veths,
# cgroups, shims and files. Prints one line per operation: trials, kills, corrupt states,
# leaks. CI runs the same trials twice per operation (crates/berth/tests/crash.rs).
# Needs root, busybox-static, docker-registry and the docker CLI (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CRASH_TRIALS=${1:-${TRIALS:-100}}
[ -n "${2:-}" ] && export CRASH_OPS=$2
exec cargo test -q -p berth --test crash -- --nocapture
