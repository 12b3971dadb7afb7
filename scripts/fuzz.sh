#!/usr/bin/env bash
# Runs berth's cargo-fuzz targets (fuzz/fuzz_targets) for SECONDS each on copies of their
# committed corpora, prints each target's executions and crashes, and fails on any crash.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default 30 seconds, every target)
# Crashing inputs are kept in fuzz/artifacts/TARGET/; replay one with
#   cargo fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-…
set -euo pipefail
secs=${1:-30}
shift || true
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo/fuzz"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Nightly when rustup has it, else stable: without a sanitizer cargo-fuzz passes no -Z flag,
# so stable builds the targets as they are and nothing has to be downloaded. No sanitizer:
# the targets check safe Rust, where ASan finds little and costs half the speed.
# FUZZ_TOOLCHAIN=stable (or any name rustup knows) chooses one.
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    toolchain=$FUZZ_TOOLCHAIN
elif rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=nightly
else
    toolchain=stable
fi
fuzz() { cargo "+$toolchain" fuzz "$@"; }

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(fuzz list)
fi

# One build for all targets (a build names at most one target).
if [ $# -eq 0 ]; then
    fuzz build --sanitizer none
else
    for t in "${targets[@]}"; do fuzz build --sanitizer none "$t"; done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-14s %12s %8s %s\n' target executions seconds result
for t in "${targets[@]}"; do
    corpus="$work/$t"
    mkdir -p "$corpus" "artifacts/$t"
    [ -d "corpus/$t" ] && cp -r "corpus/$t/." "$corpus/"
    start=$(date +%s)
    rc=0
    fuzz run --sanitizer none "$t" "$corpus" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$work/$t.log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        failed=1
        result="CRASH (exit $rc): $(grep -m1 -oE 'Test unit written to [^ ]+' "$work/$t.log" | sed 's/.* //' || true)"
        grep -E -m5 'panicked|ERROR: libFuzzer|SUMMARY' "$work/$t.log" >&2 || tail -n 20 "$work/$t.log" >&2
    fi
    printf '%-14s %12s %8s %s\n' "$t" "${execs:-?}" "$took" "$result"
done
exit "$failed"
