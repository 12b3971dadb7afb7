#!/usr/bin/env bash
# Networking: start latency of `berth run --rm busybox true` on the default bridge against
# `--network none` in one hyperfine run (what the bridge costs: namespace, veth, address,
# route), and throughput host -> container through a published port (busybox nc serving
# /dev/zero, read by the host for a fixed time). Needs root, hyperfine, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
for t in hyperfine python3; do command -v "$t" >/dev/null || { echo "bench needs $t" >&2; exit 1; }; done
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /tmp/berth-bench.XXXX)
export BERTH_ROOT=$work/root
cleanup() {
    for id in $("$berth" ps -aq 2>/dev/null); do "$berth" rm -f "$id" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
"$berth" import -c 'CMD ["sh"]' "$tarball" busybox >/dev/null
"$berth" run --rm busybox true  # makes the bridge and the firewall table once
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/net.json" \
    "$berth run --rm --network none busybox true" \
    "$berth run --rm busybox true" >/dev/null

# Throughput: 2 GiB from the container's nc through the published port, read on the host.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$berth" run -d --name sink -p "$port:9000" busybox sh -c 'while true; do nc -l -p 9000 < /dev/zero; done' >/dev/null
sleep 0.5
ip=$("$berth" inspect -f '{{.NetworkSettings.IPAddress}}' sink)
read_gbps() {
python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
want, got, buf = 2 << 30, 0, bytearray(1 << 20)
t = time.perf_counter()
while got < want:
    n = s.recv_into(buf)
    if not n:
        break
    got += n
print(f"{got * 8 / (time.perf_counter() - t) / 1e9:.2f}")
PY
}
gbps=$(read_gbps 127.0.0.1 "$port")
sleep 0.3
direct=$(read_gbps "$ip" 9000)
# The same through Docker's published port, when an engine answers.
dgbps=none
if docker -H unix:///var/run/docker.sock info >/dev/null 2>&1; then
    dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    docker -H unix:///var/run/docker.sock import "$tarball" berth-bench-busybox >/dev/null
    dcid=$(docker -H unix:///var/run/docker.sock run -d -p "$dport:9000" berth-bench-busybox sh -c 'while true; do nc -l -p 9000 < /dev/zero; done')
    sleep 1
    dgbps=$(read_gbps 127.0.0.1 "$dport")
    docker -H unix:///var/run/docker.sock rm -f "$dcid" >/dev/null
fi
python3 - "$work/net.json" "$gbps" "$direct" "$dgbps" <<'PY'
import json, sys
none, bridge = json.load(open(sys.argv[1]))["results"]
print("berth run --rm busybox true (release build, one hyperfine run):")
print(f"  --network none  {none['mean']*1000:6.1f} ms (min {none['min']*1000:.1f})")
print(f"  default bridge  {bridge['mean']*1000:6.1f} ms (min {bridge['min']*1000:.1f})")
print(f"  the bridge adds {(bridge['mean'] - none['mean'])*1000:.1f} ms (target <= 3 ms)")
print(f"host <- container, 2 GiB: through the published port on 127.0.0.1 {sys.argv[2]} Gbit/s;"
      f" straight to the container's address {sys.argv[3]} Gbit/s (busybox nc is the sender)")
if sys.argv[4] != "none":
    print(f"  docker, the same through its published port (docker-proxy): {sys.argv[4]} Gbit/s"
          f" -> berth/docker {float(sys.argv[2]) / float(sys.argv[4]):.2f}x")
PY
