"""docker-py against berth's socket: containers, images, exec, logs, events.

Run by crates/berth/tests/api.rs with DOCKER_HOST pointing at a test daemon; any failed
assertion exits non-zero with its message.
"""
import datetime
import io
import tarfile
import time

import docker

c = docker.from_env(timeout=30)
assert c.ping()
v = c.version()
assert v["ApiVersion"] == "1.51", v
info = c.info()
assert info["OSType"] == "linux", info

# Images.
img = c.images.get("busybox")
assert "busybox:latest" in img.tags, img.tags
img.tag("pytest/bb", "v1")
assert any("pytest/bb:v1" in i.tags for i in c.images.list()), c.images.list()
c.images.remove("pytest/bb:v1")
try:
    c.images.get("no-such-image")
    raise AssertionError("missing image found")
except docker.errors.ImageNotFound:
    pass

# A container run to completion: output, exit code, removal.
out = c.containers.run("busybox", ["sh", "-c", "echo hello; echo oops >&2"], remove=True)
assert out == b"hello\n", out
try:
    c.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    raise AssertionError("non-zero exit not reported")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

# A detached one: logs, exec, inspect, stop, remove.
since = datetime.datetime.now(datetime.timezone.utc)
ct = c.containers.run(
    "busybox",
    ["sh", "-c", "echo started; sleep 100"],
    detach=True,
    name="py-web",
    labels={"suite": "py"},
    environment={"GREETING": "hi"},
)
for _ in range(100):
    if b"started" in ct.logs():
        break
    time.sleep(0.05)
assert ct.logs() == b"started\n", ct.logs()
ct.reload()
assert ct.status == "running", ct.status
assert ct.labels["suite"] == "py", ct.labels
code, output = ct.exec_run(["sh", "-c", "echo $GREETING; exit 2"])
assert (code, output) == (2, b"hi\n"), (code, output)
code, (o, e) = ct.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
assert (code, o, e) == (0, b"a\n", b"b\n"), (code, o, e)
assert [x.name for x in c.containers.list(filters={"label": "suite=py"})] == ["py-web"]

# put_archive / get_archive.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from python\n"
    ti = tarfile.TarInfo("note.txt")
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
assert ct.put_archive("/tmp", buf.getvalue())
stream, stat = ct.get_archive("/tmp/note.txt")
assert stat["name"] == "note.txt" and stat["size"] == 12, stat
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
    assert t.extractfile("note.txt").read() == b"from python\n"

ct.stop(timeout=1)
ct.reload()
assert ct.status == "exited", ct.status
assert ct.wait(timeout=10)["StatusCode"] == 137
ct.remove()

# Events since the start of this script.
until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
actions = [
    e["Action"]
    for e in c.events(since=since, until=until, decode=True, filters={"container": "py-web"})
]
for want in ["create", "start", "exec_create", "exec_start", "exec_die", "die", "destroy"]:
    assert want in actions, (want, actions)
# A build through the classic builder's API.
ctx = io.BytesIO()
with tarfile.open(fileobj=ctx, mode="w") as t:
    df = b"FROM busybox\nRUN echo from-py > /built\nCMD [\"cat\", \"/built\"]\n"
    ti = tarfile.TarInfo("Dockerfile")
    ti.size = len(df)
    t.addfile(ti, io.BytesIO(df))
ctx.seek(0)
built, logs = c.images.build(fileobj=ctx, custom_context=True, tag="py/built:1", rm=True)
assert "py/built:1" in built.tags, built.tags
assert any("Successfully built" in (l.get("stream") or "") for l in logs), list(logs)
assert c.containers.run("py/built:1", remove=True) == b"from-py\n"
c.images.remove("py/built:1")
print("docker-py ok")
