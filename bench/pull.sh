#!/usr/bin/env bash
# Pull of a multi-layer image (~100 MB compressed: busybox, a layer of 10,000 small files, a
# layer of incompressible data) from a docker-registry on loopback: berth pull into an empty
# root against `docker pull` (image removed first) and `skopeo copy` to a directory, in one
# hyperfine run. Target: berth at most 0.5x docker's time. Needs root, hyperfine, docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
for t in hyperfine docker-registry; do
    command -v "$t" >/dev/null || { echo "bench needs $t (apt-get install $t)" >&2; exit 1; }
done
cargo build --release -p berth -q
berth=$(realpath "${CARGO_TARGET_DIR:-target}/release/berth")
work=$(mktemp -d /var/tmp/berth-pull.XXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker_ok=false
docker info >/dev/null 2>&1 && docker_ok=true
image=127.0.0.1:$port/bench/big:1
cleanup() {
    [ -n "${regpid:-}" ] && kill "$regpid" 2>/dev/null || true
    if $docker_ok; then docker rmi -f "$image" >/dev/null 2>&1 || true; fi
    rm -rf "$work" "${roots:-}"
}
trap cleanup EXIT
cat > "$work/reg.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/regdata}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
regpid=$!
tarball=$(./scripts/busybox-image.sh "$work/busybox.tar")
# The image as a docker-archive with gzip layers, made once.
python3 - "$work" "$tarball" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
work, bb = sys.argv[1], sys.argv[2]
rnd = open("/dev/urandom", "rb")
def small_files():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for d in range(100):
            di = tarfile.TarInfo(f"data/d{d:03}"); di.type = tarfile.DIRTYPE; di.mode = 0o755
            t.addfile(di)
            for f in range(100):
                body = rnd.read(200 + (d * 100 + f) % 1800)
                ti = tarfile.TarInfo(f"data/d{d:03}/f{f:03}"); ti.size = len(body); ti.mode = 0o644
                t.addfile(ti, io.BytesIO(body))
    return buf.getvalue()
def big_files():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i in range(6):
            body = rnd.read(15 << 20)
            ti = tarfile.TarInfo(f"blob/part{i}"); ti.size = len(body); ti.mode = 0o644
            t.addfile(ti, io.BytesIO(body))
    return buf.getvalue()
layers = [open(bb, "rb").read(), small_files(), big_files()]
diff_ids, names = [], []
os.makedirs(os.path.join(work, "arch"), exist_ok=True)
for i, raw in enumerate(layers):
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    name = f"layer{i}.tar.gz"
    with open(os.path.join(work, "arch", name), "wb") as f:
        f.write(gzip.compress(raw, compresslevel=6, mtime=0))
    names.append(name)
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
       "rootfs": {"type": "layers", "diff_ids": diff_ids},
       "history": [{"created_by": "bench"} for _ in layers]}
cb = json.dumps(cfg).encode()
cid = hashlib.sha256(cb).hexdigest()
open(os.path.join(work, "arch", cid + ".json"), "wb").write(cb)
json.dump([{"Config": cid + ".json", "RepoTags": ["bench/big:1"], "Layers": names}],
          open(os.path.join(work, "arch", "manifest.json"), "w"))
PY
tar -C "$work/arch" -cf "$work/big.tar" .
export BERTH_ROOT=$work/src
"$berth" load -q -i "$work/big.tar" >/dev/null
"$berth" tag bench/big:1 "$image"
"$berth" push -q "$image" >/dev/null
du -sh "$work/regdata" | sed 's/^/registry holds /'
names=(berth skopeo)
# Each berth run pulls into a new root under /var/lib, beside docker's /var/lib/docker, as
# berth's default /var/lib/berth is. Deleting the previous run's 10,000 files right before, or
# pulling next to where many files were just deleted, measures an ext4 artefact instead: without
# a journal (as on these VMs) ext4 skips inodes deleted in the last 30 s when it allocates,
# looking each up on every create; that made the same pull 1.3-2.3 s instead of 0.3-0.4 s
# (perf: recently_deleted in __ext4_new_inode).
roots=$(mktemp -d /var/lib/berth-bench.XXXX)
cmds=("sh -c 'BERTH_ROOT=$roots/dst-\$(cat $work/n) exec $berth pull -q $image'")
prep=("sh -c 'echo \$((\$(cat $work/n 2>/dev/null || echo 0) + 1)) > $work/n'")
cmds+=("skopeo copy -q --src-tls-verify=false docker://$image dir:$work/skopeo")
prep+=("rm -rf $work/skopeo")
if $docker_ok; then
    names+=(docker)
    cmds+=("docker pull -q $image")
    prep+=("docker rmi -f $image")
fi
args=()
for i in "${!cmds[@]}"; do args+=(--prepare "${prep[$i]}" "${cmds[$i]}"); done
# Calibration: how fast this area of the file system creates files right now.
python3 - "$roots" <<'PY'
import os, sys, time, shutil
d = os.path.join(sys.argv[1], "calib")
t = time.time()
for i in range(100):
    os.makedirs(f"{d}/d{i}")
    for j in range(100):
        open(f"{d}/d{i}/f{j}", "wb").write(b"x" * 500)
print("  creating 10,000 files here takes %.2f s (a clean ext4 area: 0.2-0.5 s)" % (time.time() - t))
PY
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/pull.json" "${args[@]}" >/dev/null
python3 - "$work/pull.json" "${names[@]}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
names = sys.argv[2:]
for n, r in zip(names, res):
    print("  %-7s mean %7.2f s  min %7.2f s" % (n, r["mean"], r["min"]))
m = {n: r["mean"] for n, r in zip(names, res)}
print("  berth / skopeo copy = %.2f" % (m["berth"] / m["skopeo"]))
if "docker" in m:
    print("  berth / docker pull = %.2f   (target <= 0.5)" % (m["berth"] / m["docker"]))
else:
    print("  docker: no engine answers here; not measured")
PY
