#!/usr/bin/env bash
# `stop` of an --init container running `sleep 1000`, and `stats --no-stream`, berth against
# docker (when an engine answers) in one hyperfine run each. Needs root and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-15}
command -v hyperfine >/dev/null || { echo "bench needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /tmp/berth-bench.XXXX)
export BERTH_ROOT=$work/root
docker_ok=false
docker info >/dev/null 2>&1 && docker_ok=true
cleanup() {
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1 || true; done
    if $docker_ok; then docker rm -f berth-bench-stop berth-bench-stats >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import "$tarball" busybox >/dev/null
$docker_ok && docker import "$tarball" berth-bench-busybox >/dev/null

stop_cmds=("$berth stop s1")
stop_prep=("$berth rm -f s1 >/dev/null 2>&1; $berth run -d --init --name s1 busybox sleep 1000 >/dev/null")
if $docker_ok; then
    stop_cmds+=("docker stop berth-bench-stop")
    stop_prep+=("docker rm -f berth-bench-stop >/dev/null 2>&1; docker run -d --init --name berth-bench-stop berth-bench-busybox sleep 1000 >/dev/null")
fi
args=()
for i in "${!stop_cmds[@]}"; do args+=(--prepare "${stop_prep[$i]}" "${stop_cmds[$i]}"); done
hyperfine --runs "$runs" --export-json "$work/stop.json" "${args[@]}" >/dev/null

"$berth" run -d --name st busybox sleep 1000 >/dev/null
stats_cmds=("$berth stats --no-stream st")
if $docker_ok; then
    docker run -d --name berth-bench-stats berth-bench-busybox sleep 1000 >/dev/null
    stats_cmds+=("docker stats --no-stream berth-bench-stats")
fi
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/stats.json" "${stats_cmds[@]}" >/dev/null

python3 - "$work/stop.json" "$work/stats.json" <<'PY'
import json, sys
for title, path in (("stop of an --init container (sleep 1000)", sys.argv[1]), ("stats --no-stream", sys.argv[2])):
    res = json.load(open(path))["results"]
    print(title)
    names = ["berth", "docker"][: len(res)]
    for n, r in zip(names, res):
        print("  %-7s mean %8.1f ms  min %8.1f ms" % (n, r["mean"] * 1e3, r["min"] * 1e3))
    if len(res) == 2:
        print("  berth / docker = %.3f" % (res[0]["mean"] / res[1]["mean"]))
    else:
        print("  docker: no engine answers here; not measured")
PY
