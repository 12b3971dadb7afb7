#!/usr/bin/env bash
# Start latency of `berth run --rm busybox true` against `crun run` on an equivalent bundle (the
# same OCI config berth generates: namespaces, mounts, capabilities, seccomp, cgroups) and
# against `docker run --rm` when a Docker engine answers; then the PSS of an idle container's
# shim. Prints the ratios. Needs root, hyperfine and crun (apt-get install hyperfine crun).
#
# crun 1.8 refuses this hybrid cgroup host while the empty v2 mount is visible, so the whole
# measurement runs in a private mount namespace with /sys/fs/cgroup/unified unmounted (berth
# does not care either way).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
for t in hyperfine crun python3; do command -v "$t" >/dev/null || { echo "bench needs $t (apt-get install $t)" >&2; exit 1; }; done
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /tmp/berth-bench.XXXX)
export BERTH_ROOT=$work/root
cleanup() {
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1 || true; done
    crun delete -f "bench-$$" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import -c 'CMD ["sh"]' "$tarball" busybox >/dev/null

# crun gets berth's own spec for the same container, with a plain directory as its root.
# --network none on both sides: crun gets no network setup, so neither does berth here
# (bench/network.sh measures what the default bridge adds).
"$berth" run --name benchref --network none busybox true
ref=$("$berth" inspect -f '{{.Id}}' benchref)
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$tarball"
python3 - "$BERTH_ROOT/containers/$ref/config.json" "$work/bundle/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"] = {"path": "rootfs", "readonly": False}
spec["linux"]["cgroupsPath"] = "berth-bench-crun"
json.dump(spec, open(sys.argv[2], "w"))
PY

hf=(hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/start.json")
cmds=("$berth run --rm --network none busybox true" "crun run --bundle $work/bundle bench-$$")
names=("berth" "crun")
if docker info >/dev/null 2>&1; then
    docker import "$tarball" berth-bench-busybox >/dev/null
    cmds+=("docker run --rm berth-bench-busybox true")
    names+=("docker")
fi
export HF_CMDS
unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' sh "${hf[@]}" "${cmds[@]}" >/dev/null

# An idle container's shim: proportional set size from smaps_rollup.
cid=$("$berth" run -d busybox sleep 60)
sleep 1.5  # idle: the shim gives back its start-up memory after 0.5 s without activity
shim=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['shim_pid'])" "$BERTH_ROOT/containers/$cid/state.json")
pss_kb=$(awk '/^Pss:/ {print $2}' "/proc/$shim/smaps_rollup")
rss_kb=$(awk '/^Rss:/ {print $2}' "/proc/$shim/smaps_rollup")

# Docker's shim for an idle container, when an engine answers.
dpss_kb=0
if docker info >/dev/null 2>&1; then
    dcid=$(docker run -d berth-bench-busybox sleep 60)
    sleep 1.5
    dshim=$(pgrep -f "containerd-shim.*$dcid" | head -1 || true)
    [ -n "$dshim" ] && dpss_kb=$(awk '/^Pss:/ {print $2}' "/proc/$dshim/smaps_rollup")
    docker rm -f "$dcid" >/dev/null
fi

python3 - "$work/start.json" "$pss_kb" "$rss_kb" "$dpss_kb" "${names[@]}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
pss, rss, dpss = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
names = sys.argv[5:]
t = {n: r for n, r in zip(names, res)}
print("start latency (hyperfine, %d runs each, same machine, same run)" % len(res[0]["times"]))
for n in names:
    r = t[n]
    print("  %-7s mean %7.2f ms  median %7.2f ms  min %7.2f ms" % (n, r["mean"] * 1e3, r["median"] * 1e3, r["min"] * 1e3))
c = t["crun"]["mean"]
print("  berth / crun  = %.2fx   (target <= 1.5x)" % (t["berth"]["mean"] / c))
if "docker" in t:
    print("  docker / crun = %.2fx   berth is %.1fx faster than docker" % (t["docker"]["mean"] / c, t["docker"]["mean"] / t["berth"]["mean"]))
else:
    print("  docker: no engine answers here (docker info failed); not measured")
print("idle shim memory: PSS %.2f MiB, RSS %.2f MiB   (target PSS <= 0.3 MiB)" % (pss / 1024, rss / 1024))
if dpss:
    print("  docker's containerd-shim for an idle container: PSS %.2f MiB (%.1fx berth's)" % (dpss / 1024, dpss / pss))
PY
