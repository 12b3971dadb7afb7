#!/usr/bin/env bash
# The Engine API: `docker run --rm busybox true` through berth's socket against the same command
# through dockerd (when one answers on /var/run/docker.sock), side by side in one hyperfine run;
# then the idle daemons' memory: berth's against dockerd + containerd.
# Needs root, hyperfine and the docker CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
for t in hyperfine docker python3; do command -v "$t" >/dev/null || { echo "bench needs $t" >&2; exit 1; }; done
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /tmp/berth-bench.XXXX)
export BERTH_ROOT=$work/root
sock=$work/api.sock
daemon=
cleanup() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import -c 'CMD ["sh"]' "$tarball" busybox >/dev/null
"$berth" daemon -H "unix://$sock" >/dev/null 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

cmds=("docker -H unix://$sock run --rm busybox true")
names=("berth daemon")
if docker -H unix:///var/run/docker.sock info >/dev/null 2>&1; then
    docker -H unix:///var/run/docker.sock import "$tarball" berth-bench-busybox >/dev/null
    cmds+=("docker -H unix:///var/run/docker.sock run --rm berth-bench-busybox true")
    names+=("dockerd")
fi
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/api.json" "${cmds[@]}" >/dev/null

# Idle memory, after the runs above and five quiet seconds (berth gives back what serving
# touched after two; dockerd has had as long).
sleep 5
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
b_rss=$(kib "$daemon" Rss); b_pss=$(kib "$daemon" Pss)
d_rss=0; c_rss=0
if [ "${#names[@]}" -gt 1 ]; then
    dpid=$(pgrep -x dockerd | head -1 || true); cpid=$(pgrep -x containerd | head -1 || true)
    [ -n "$dpid" ] && d_rss=$(kib "$dpid" Rss)
    [ -n "$cpid" ] && c_rss=$(kib "$cpid" Rss)
fi

python3 - "$work/api.json" "$b_rss" "$b_pss" "$d_rss" "$c_rss" "${names[@]}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
b_rss, b_pss, d_rss, c_rss = (int(x) / 1024 for x in sys.argv[2:6])
names = sys.argv[6:]
t = {n: r for n, r in zip(names, res)}
print("docker run --rm busybox true, through each engine's socket (docker 28 CLI):")
for n, r in t.items():
    print(f"  {n:13s} {r['mean']*1000:7.1f} ms mean (min {r['min']*1000:.1f}, sd {r['stddev']*1000:.1f})")
if "dockerd" in t:
    ratio = t["berth daemon"]["mean"] / t["dockerd"]["mean"]
    print(f"  berth/dockerd = {ratio:.3f} (target <= 0.2)")
print(f"idle daemon memory: berth RSS {b_rss:.1f} MiB (PSS {b_pss:.1f})", end="")
if d_rss:
    print(f"; dockerd RSS {d_rss:.1f} MiB + containerd {c_rss:.1f} MiB = {d_rss + c_rss:.1f} MiB")
else:
    print(" (no dockerd answering for comparison)")
PY
