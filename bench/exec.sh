#!/usr/bin/env bash
# `berth exec CID true` into a running container, against `docker exec` when a Docker engine
# answers (measured on such machines at ~0.11 s; podman ~0.24 s), in one hyperfine run.
# Target: at most 1/5 of docker's time. Needs root and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-50}
command -v hyperfine >/dev/null || { echo "bench needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /tmp/berth-bench.XXXX)
export BERTH_ROOT=$work/root
cleanup() {
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1 || true; done
    if [ -n "${dcid:-}" ]; then docker rm -f "$dcid" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import "$tarball" busybox >/dev/null
cid=$("$berth" run -d busybox sleep 600)
cmds=("$berth exec $cid true")
names=(berth)
if docker info >/dev/null 2>&1; then
    docker import "$tarball" berth-bench-busybox >/dev/null
    dcid=$(docker run -d berth-bench-busybox sleep 600)
    cmds+=("docker exec $dcid true")
    names+=(docker)
fi
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/exec.json" "${cmds[@]}" >/dev/null
python3 - "$work/exec.json" "${names[@]}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
t = dict(zip(sys.argv[2:], res))
print("exec latency (hyperfine, %d runs each)" % len(res[0]["times"]))
for n, r in t.items():
    print("  %-7s mean %7.2f ms  median %7.2f ms  min %7.2f ms" % (n, r["mean"] * 1e3, r["median"] * 1e3, r["min"] * 1e3))
if "docker" in t:
    print("  berth / docker = %.3f   (target <= 0.2)" % (t["berth"]["mean"] / t["docker"]["mean"]))
else:
    print("  docker: no engine answers here (docker info failed); reference figure docker exec ~110 ms, so the target is <= 22 ms")
PY
