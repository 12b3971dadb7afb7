#!/usr/bin/env bash
# Networking: start latency of `berth run --rm busybox true` on the default bridge against
# `--network none` in one hyperfine run (what the bridge costs: namespace, veth, address,
# route), and TCP throughput between the host and a container with iperf3 (the host's binary
# and its libraries made into an image): through a published port on 127.0.0.1 and straight
# to the container's address, both directions, against docker's published port
# (docker-proxy) in the same run when a docker engine answers. Needs root, hyperfine,
# python3, iperf3.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
for t in hyperfine python3 iperf3; do command -v "$t" >/dev/null || { echo "bench needs $t" >&2; exit 1; }; done
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

# iperf3 as an image: the host's binary, the libraries it links and the loader.
img=$work/iperf3
mkdir -p "$img/tmp" "$img/etc" "$img/usr/bin"
chmod 1777 "$img/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' > "$img/etc/passwd"
cp /usr/bin/iperf3 "$img/usr/bin/"
for lib in $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
    mkdir -p "$img$(dirname "$lib")"
    cp -L "$lib" "$img$lib"
done
tar --numeric-owner --owner=0 --group=0 -C "$img" -cf "$work/iperf3.tar" .
"$berth" import -c 'CMD ["/usr/bin/iperf3","-s"]' "$work/iperf3.tar" iperf3 >/dev/null

secs=${SECS:-5}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Gbit/s of one iperf3 client run: $1 address, $2 port, $3 extra flag (-R: container sends).
gbps() {
    local out
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        if out=$(iperf3 -c "$1" -p "$2" -t "$secs" -J $3 2>/dev/null); then
            python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.2f" % (r["end"]["sum_received"]["bits_per_second"]/1e9))' <<<"$out"
            return
        fi
        sleep 0.2
    done
    echo "iperf3 to $1:$2 failed" >&2; exit 1
}
port=$(free_port)
"$berth" run -d --name sink -p "127.0.0.1:$port:5201" iperf3 >/dev/null
ip=$("$berth" inspect -f '{{.NetworkSettings.IPAddress}}' sink)
b_in=$(gbps 127.0.0.1 "$port" ""); b_out=$(gbps 127.0.0.1 "$port" -R)
d_in=$(gbps "$ip" 5201 ""); d_out=$(gbps "$ip" 5201 -R)
k_in=none; k_out=none; kd_in=none; kd_out=none
docker=(docker -H unix:///var/run/docker.sock)
if "${docker[@]}" info >/dev/null 2>&1; then
    dport=$(free_port)
    "${docker[@]}" import -c 'CMD ["/usr/bin/iperf3","-s"]' "$work/iperf3.tar" berth-bench-iperf3 >/dev/null
    dcid=$("${docker[@]}" run -d -p "127.0.0.1:$dport:5201" berth-bench-iperf3)
    dip=$("${docker[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' "$dcid")
    k_in=$(gbps 127.0.0.1 "$dport" ""); k_out=$(gbps 127.0.0.1 "$dport" -R)
    kd_in=$(gbps "$dip" 5201 ""); kd_out=$(gbps "$dip" 5201 -R)
    "${docker[@]}" rm -f "$dcid" >/dev/null
    "${docker[@]}" rmi berth-bench-iperf3 >/dev/null
fi
python3 - "$work/net.json" "$secs" "$b_in" "$b_out" "$d_in" "$d_out" "$k_in" "$k_out" "$kd_in" "$kd_out" <<'PY'
import json, sys
none, bridge = json.load(open(sys.argv[1]))["results"]
secs, b_in, b_out, d_in, d_out, k_in, k_out, kd_in, kd_out = sys.argv[2:]
print("berth run --rm busybox true (release build, one hyperfine run):")
print(f"  --network none  {none['mean']*1000:6.1f} ms (min {none['min']*1000:.1f})")
print(f"  default bridge  {bridge['mean']*1000:6.1f} ms (min {bridge['min']*1000:.1f})")
print(f"  the bridge adds {(bridge['mean'] - none['mean'])*1000:.1f} ms (target <= 3 ms)")
print(f"TCP throughput, iperf3 {secs} s, Gbit/s   host->container  container->host")
def row(name, a, b):
    print(f"  {name:38s} {a:>9s}        {b:>9s}")
row("berth, published port on 127.0.0.1", b_in, b_out)
row("berth, the container's own address", d_in, d_out)
if k_in != "none":
    row("docker, published port on 127.0.0.1", k_in, k_out)
    row("docker, the container's own address", kd_in, kd_out)
    print(f"  published port berth/docker: {float(b_in)/float(k_in):.2f}x host->container,"
          f" {float(b_out)/float(k_out):.2f}x container->host")
PY
