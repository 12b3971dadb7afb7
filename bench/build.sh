#!/usr/bin/env bash
# The same 5-step Dockerfile (FROM busybox, RUN, COPY, ENV, CMD) built cold (--no-cache) and fully
# cached, berth against docker's classic builder (DOCKER_BUILDKIT=0) when an engine answers, in one
# hyperfine run each. Target: both at most 0.5x docker's time. Needs root and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "bench needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /tmp/berth-bench.XXXX)
export BERTH_ROOT=$work/root
docker_ok=false
docker info >/dev/null 2>&1 && docker_ok=true
cleanup() {
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1 || true; done
    if $docker_ok; then docker rmi -f berth-bench-build >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import "$tarball" busybox >/dev/null
mkdir -p "$work/ctx"
head -c 200000 /dev/urandom > "$work/ctx/data.bin"
cat > "$work/ctx/Dockerfile" <<'DF'
FROM busybox
RUN echo built > /built.txt
COPY data.bin /data.bin
ENV MODE=bench
CMD ["cat", "/built.txt"]
DF
names=(berth)
cold=("$berth build -q --no-cache -t bench:1 $work/ctx")
warm=("$berth build -q -t bench:1 $work/ctx")
if $docker_ok; then
    docker import "$tarball" busybox >/dev/null
    names+=(docker)
    cold+=("env DOCKER_BUILDKIT=0 docker build -q --no-cache -t berth-bench-build $work/ctx")
    warm+=("env DOCKER_BUILDKIT=0 docker build -q -t berth-bench-build $work/ctx")
fi
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/cold.json" "${cold[@]}" >/dev/null
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/warm.json" "${warm[@]}" >/dev/null
python3 - "$work/cold.json" "$work/warm.json" "${names[@]}" <<'PY'
import json, sys
names = sys.argv[3:]
for title, path in (("cold build (--no-cache)", sys.argv[1]), ("cached rebuild", sys.argv[2])):
    res = json.load(open(path))["results"]
    print(title)
    for n, r in zip(names, res):
        print("  %-7s mean %8.1f ms  min %8.1f ms" % (n, r["mean"] * 1e3, r["min"] * 1e3))
    if len(res) == 2:
        print("  berth / docker = %.3f   (target <= 0.5)" % (res[0]["mean"] / res[1]["mean"]))
    else:
        print("  docker: no engine answers here; not measured")
PY
