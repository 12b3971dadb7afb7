#!/usr/bin/env bash
# Load: N containers (default 200) started at once, half through the berth CLI and half through
# the Engine API (the docker CLI against `berth daemon`), each sleeping 2 s and exiting with a
# code of its own; then the same N through dockerd (the docker CLI, dockerd in a network
# namespace of its own so its iptables rules never touch the host's). Prints, for each engine:
# the time until every container has exited, failures, wrong exit codes, the peak memory (PSS)
# of the engine's processes, and what was left behind. Needs root, docker.io and python3.
#
# Engine processes: berth's daemon, its shims and its CLI processes (the CLI does the engine's
# work for its half); dockerd, containerd, containerd-shim-runc-v2 and runc for Docker. The
# docker CLI processes are counted for neither.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
for t in dockerd docker python3 ip; do command -v "$t" >/dev/null || { echo "bench needs $t" >&2; exit 1; }; done
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /var/tmp/berth-load.XXXX)
export BERTH_ROOT=$work/root
ns=berth-load-$$
cleanup() {
    set +e
    [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1; done
    [ -n "${bpid:-}" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
    if [ -n "${dpid:-}" ]; then
        DOCKER_HOST=unix://$work/docker.sock docker rm -f $(DOCKER_HOST=unix://$work/docker.sock docker ps -aq) >/dev/null 2>&1
        kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
        pkill -f "containerd.*$work" 2>/dev/null
    fi
    grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The peak total PSS (MiB) of processes whose executable's name is in $1 (comma-separated),
# sampled every 100 ms until the file $2 appears.
peak_pss() {
    python3 - "$1" "$2" <<'PY'
import os, sys, time
names, stop = set(sys.argv[1].split(",")), sys.argv[2]
peak = 0
while not os.path.exists(stop):
    total = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.path.basename(os.readlink(f"/proc/{p}/exe")).split(" ")[0] not in names:
                continue
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    peak = max(peak, total)
    time.sleep(0.1)
print(peak // 1024)
PY
}

# Starts $n containers at once: odd ones with "$@" for half A, even ones with half B's command
# in $half_b (an array name); each exits with i % 100. Writes "i got want" lines to $1.
launch() {
    local out=$1 i code pids=()
    shift
    for i in $(seq 1 "$n"); do
        code=$((i % 100))
        if (( i % 2 )); then
            ( set +e; "${half_a[@]}" run --rm busybox sh -c "sleep 2; exit $code" >/dev/null 2>>"$out.err"; echo "$i $? $code" >>"$out" ) &
        else
            ( set +e; "${half_b[@]}" run --rm busybox sh -c "sleep 2; exit $code" >/dev/null 2>>"$out.err"; echo "$i $? $code" >>"$out" ) &
        fi
        pids+=($!)
    done
    wait "${pids[@]}"
}

# One engine's run: time, failures, peak memory, leftovers.
measure() {
    local label=$1 procs=$2 out=$work/results-$1
    rm -f "$work/stop"
    peak_pss "$procs" "$work/stop" >"$work/peak-$label" &
    sampler=$!
    local t0 t1
    t0=$(date +%s.%N)
    launch "$out"
    t1=$(date +%s.%N)
    touch "$work/stop"
    wait "$sampler"
    sampler=
    local wrong failed
    wrong=$(awk '$2 != $3' "$out" | wc -l)
    failed=$(awk '$2 != $3 && $2 >= 125' "$out" | wc -l)
    printf '%-7s %d containers: all exited after %.1f s, %d wrong exit codes (%d engine errors), peak PSS %s MiB\n' \
        "$label" "$(wc -l <"$out")" "$(echo "$t1 - $t0" | bc -l)" "$wrong" "$failed" "$(cat "$work/peak-$label")"
    [ "$wrong" = 0 ] || head -5 "$out.err" | sed 's/^/    /'
}

tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import -c 'CMD ["sh"]' "$tarball" busybox >/dev/null
"$berth" daemon -H "unix://$work/berth.sock" 2>/dev/null &
bpid=$!
while ! [ -S "$work/berth.sock" ]; do sleep 0.05; done
veths_before=$(ls /sys/class/net | grep -c '^veth' || true)
half_a=("$berth")
half_b=(env DOCKER_HOST="unix://$work/berth.sock" DOCKER_CONFIG="$work/dc" docker)
measure berth berth
left=$("$berth" ps -aq | wc -l)
shims=$(pgrep -fc "shim --root $BERTH_ROOT" || true)
veths=$(( $(ls /sys/class/net | grep -c '^veth' || true) - veths_before ))
cgroups=$( (find /sys/fs/cgroup/*/berth /sys/fs/cgroup/*/berth-shim -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | wc -l)
echo "        left behind: $left containers, $shims shims, $veths veths, $cgroups cgroups"
kill "$bpid"; wait "$bpid" 2>/dev/null || true
bpid=

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
# nsenter, not `ip netns exec`: that remounts /sys, and dockerd would find no cgroups.
nsenter --net="/run/netns/$ns" dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" \
    --pidfile "$work/docker.pid" -H "unix://$work/docker.sock" >"$work/dockerd.log" 2>&1 &
dpid=$!
export DOCKER_HOST=unix://$work/docker.sock
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
"$berth" save busybox | docker load -q >/dev/null
half_a=(docker)
half_b=(docker)
measure docker dockerd,containerd,containerd-shim-runc-v2,runc
echo "        left behind: $(docker ps -aq | wc -l) containers"
