"""docker-py paths the docker CLI does not take, each as dockerd answers it.

Every check here is a behaviour docker-py's own integration suite showed berth lacked; run by
crates/berth/tests/api.rs with DOCKER_HOST pointing at a test daemon. Any failed assertion
exits non-zero with its message.
"""
import io
import tarfile
import threading
import time

import docker

api = docker.APIClient(timeout=60, **docker.utils.kwargs_from_env())
c = docker.from_env(timeout=60)
made = []


def cfg_links(name):
    return api.create_networking_config({"py conf net": api.create_endpoint_config(links=[(name, "up")])})


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


try:
    # Swarm: a node outside a swarm answers 503, which leave(force) takes as done.
    assert api.leave_swarm(force=True)
    try:
        api.inspect_swarm()
        raise AssertionError("a swarm was found")
    except docker.errors.APIError as e:
        assert e.status_code == 503, e

    # Streamed answers are chunked: docker-py reads a body with a length as one JSON document.
    saved = b"".join(api.get_image("busybox"))
    lines = list(api.load_image(saved))
    assert any("Loaded image" in str(x) for x in lines), lines
    img, logs = c.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN true\n"), tag="pyconf:1", rm=True)
    logs = list(logs)
    assert "Successfully tagged pyconf:1" in logs[-1]["stream"], logs[-1]
    assert any("aux" in x for x in logs), logs
    c.images.remove("pyconf:1")

    # Build options: extra hosts and RUN steps that change nothing (the same empty layer twice),
    # stderr in the classic builder's red, cache only from --cache-from's images.
    df = b"FROM busybox\nRUN ping -c1 extra.test\nRUN true\nRUN sh -c 'echo warn >&2'\n"
    logs = [x.get("stream", "") for x in api.build(fileobj=io.BytesIO(df), tag="pyconf:2",
                                                     extra_hosts={"extra.test": "127.0.0.1"}, decode=True)]
    assert any("Successfully tagged pyconf:2" in x for x in logs), logs
    assert "\x1b[91mwarn\n\x1b[0m" in logs, logs
    again = [x.get("stream", "") for x in api.build(fileobj=io.BytesIO(df), cache_from=["nosuchimage"],
                                                      extra_hosts={"extra.test": "127.0.0.1"}, decode=True)]
    assert not any("Using cache" in x for x in again), again
    again = [x.get("stream", "") for x in api.build(fileobj=io.BytesIO(df), cache_from=["pyconf:2"],
                                                      extra_hosts={"extra.test": "127.0.0.1"}, decode=True)]
    assert sum("Using cache" in x for x in again) == 3, again
    c.images.remove("pyconf:2")
    import os
    import tempfile
    ctx = tempfile.mkdtemp()
    os.makedirs(os.path.join(ctx, "skip", "sub"))
    for f in ("keep", "skip/sub/back", "skip/sub/gone"):
        open(os.path.join(ctx, f), "w").write("x")
    open(os.path.join(ctx, ".dockerignore"), "w").write("skip\n!skip/sub/back\n.dockerignore\n")
    outside = tempfile.mkdtemp()
    open(os.path.join(outside, "Dockerfile"), "w").write("FROM busybox\nCOPY . /c\n")
    lines = list(api.build(path=ctx, dockerfile=os.path.join(outside, "Dockerfile"), tag="pyconf:3", decode=True))
    assert "Successfully tagged" in lines[-1].get("stream", ""), lines
    out = c.containers.run("pyconf:3", "find /c -type f", remove=True).split()
    assert sorted(out) == [b"/c/keep", b"/c/skip/sub/back"], out
    c.images.remove("pyconf:3")

    # Archives see the container's volumes, stopped or not.
    ctr = api.create_container("busybox", 'sh -c "echo -n hi > /vol1/data.txt"', volumes=["/vol1"])
    made.append(ctr)
    api.start(ctr)
    api.wait(ctr)
    strm, stat = api.get_archive(ctr, "/vol1/data.txt")
    assert stat["name"] == "data.txt" and stat["size"] == 2, stat
    assert api.put_archive(ctr, "/vol1", tar_of({"put.txt": b"put"}))
    strm, stat = api.get_archive(ctr, "/vol1/put.txt")
    assert stat["size"] == 3, stat

    # Inspect carries the fields dockerd always returns, as they were given.
    ctr = api.create_container(
        "busybox", "true", runtime="runc",
        host_config=api.create_host_config(isolation="default", mem_swappiness=40,
                                           log_config=docker.types.LogConfig(type="json-file", config={"max-file": "3"})),
    )
    made.append(ctr)
    hc = api.inspect_container(ctr)["HostConfig"]
    assert hc["Runtime"] == "runc" and hc["Isolation"] == "default", hc
    assert hc["MemorySwappiness"] == 40, hc
    assert hc["LogConfig"]["Config"] == {"max-file": "3"}, hc["LogConfig"]
    try:
        api.create_container("busybox", "true", host_config=api.create_host_config(sysctls={"kernel.core_pattern": "|/x"}))
        raise AssertionError("kernel.core_pattern accepted")
    except docker.errors.APIError as e:
        assert e.status_code == 400, e
    vd = c.containers.create("busybox", "true", volume_driver="local")
    made.append(vd.id)
    assert vd.attrs["HostConfig"]["VolumeDriver"] == "local", vd.attrs["HostConfig"]

    # A followed log's line arrives while the container still runs (not at the next line).
    ctr = api.create_container("busybox", 'sh -c "echo first && sleep 5"')
    made.append(ctr)
    api.start(ctr)
    gen = api.logs(ctr, stream=True, follow=True)
    threading.Timer(1.5, gen.close).start()
    got = b"".join(gen)
    assert got == b"first\n", got

    # A followed log answers at once, before any line it lets through has come: docker-py
    # inspects the container as soon as it has the headers (here the container is auto-removed
    # a moment later, and its stderr is not asked for).
    try:
        c.containers.run("busybox", 'sh -c ">&2 echo error && sleep 1 && exit 1"', auto_remove=True)
        raise AssertionError("a failed run was not reported")
    except docker.errors.ContainerError as e:
        assert e.exit_status == 1 and e.stderr is None, e

    # A paused container is still running, as dockerd says.
    ctr = api.create_container("busybox", "sleep 100")
    made.append(ctr)
    api.start(ctr)
    api.pause(ctr)
    st = api.inspect_container(ctr)["State"]
    assert st["Running"] is True and st["Paused"] is True, st
    api.unpause(ctr)

    # wait returns at a run's end also when a restart policy starts the next.
    ctr = api.create_container("busybox", ["sleep", "1"], host_config=api.create_host_config(
        restart_policy={"Name": "always"}, network_mode="none"))
    made.append(ctr)
    api.start(ctr)
    t = time.time()
    assert api.wait(ctr, timeout=20)["StatusCode"] == 0
    assert time.time() - t < 15

    # Exec: the start request's Tty decides the framing, whatever the exec's terminal.
    ctr = api.create_container("busybox", "cat", detach=True, stdin_open=True)
    made.append(ctr)
    api.start(ctr)
    cmd = 'sh -c "echo out; sleep 0.3; echo err >&2"'
    x = api.exec_create(ctr, cmd, tty=True)
    assert api.exec_start(x) == b"out\r\nerr\r\n"
    x = api.exec_create(ctr, cmd, tty=True)
    assert api.exec_start(x, demux=True) == (b"out\r\nerr\r\n", None)
    x = api.exec_create(ctr, cmd)
    assert api.exec_start(x, demux=True) == (b"out\n", b"err\n")
    # detachKeys from the client's config (docker-py sends the key camel-cased).
    api._general_configs["detachKeys"] = "ctrl-x"
    x = api.exec_create(ctr, "cat", stdin=True, tty=True, stdout=True)
    del api._general_configs["detachKeys"]
    sock = api.exec_start(x, tty=True, socket=True)
    raw = sock._sock if hasattr(sock, "_sock") else sock
    raw.sendall(b"\x18")
    raw.settimeout(5)
    while raw.recv(4096):
        pass  # the daemon closes the stream once the keys are seen
    sock.close()
    x = api.exec_create(ctr, ["printf", "framed"], tty=True)
    sock = api.exec_start(x, socket=True)
    head = sock._sock.recv(8) if hasattr(sock, "_sock") else sock.recv(8)
    assert head[0] == 1 and int.from_bytes(head[4:8], "big") == 6, head
    sock.close()

    # Links: removed by name/alias, both containers stay.
    a = api.create_container("busybox", "sleep 100")
    made.append(a)
    api.start(a)
    an = api.inspect_container(a)["Name"][1:]
    b = api.create_container("busybox", "sleep 100", host_config=api.create_host_config(links={an: "db"}))
    made.append(b)
    api.start(b)
    bn = api.inspect_container(b)["Name"][1:]
    api.remove_container(f"{bn}/db", link=True)
    assert api.inspect_container(b)["HostConfig"]["Links"] in (None, []), api.inspect_container(b)["HostConfig"]
    assert len([x for x in api.containers(all=True) if x["Id"] in (a["Id"], b["Id"])]) == 2

    # Mounts through the API, as --mount.
    vol = c.volumes.create("pyconfvol")
    try:
        out = c.containers.run("busybox", "sh -c 'echo m > /m/f; cat /m/f'", remove=True,
                               mounts=[docker.types.Mount("/m", "pyconfvol", type="volume")])
        assert out == b"m\n", out
    finally:
        vol.remove()

    # Images: a bad archive is an error line (ImageLoadError), a save by id loads once,
    # a commit's Parent is its container's image.
    try:
        c.images.load(b"abc")
        raise AssertionError("a bad archive loaded")
    except docker.errors.ImageLoadError:
        pass
    bb = c.images.get("busybox")
    assert len(c.images.load(b"".join(bb.save()))) == 1
    ctr = api.create_container("busybox", ["touch", "/t"])
    made.append(ctr)
    api.start(ctr)
    api.wait(ctr)
    img = api.inspect_image(api.commit(ctr)["Id"])
    assert img["Parent"] == bb.id, (img["Parent"], bb.id)
    api.remove_image(img["Id"])

    # Networks: names with spaces; a running container leaves its network mode's network.
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="172.31.77.0/24", aux_addresses={"a": "172.31.77.2"})])
    net = api.create_network("py conf net", ipam=ipam)
    shown = api.inspect_network(net["Id"])["IPAM"]
    assert "Options" not in shown or shown["Options"] is None, shown
    assert shown["Config"][0]["AuxiliaryAddresses"] == {"a": "172.31.77.2"}, shown
    try:
        ctr = api.create_container("busybox", "sleep 100", host_config=api.create_host_config(network_mode="py conf net"))
        made.append(ctr)
        api.start(ctr)
        assert "py conf net" in api.inspect_container(ctr)["NetworkSettings"]["Networks"]
        try:
            api.connect_container_to_network(ctr, net["Id"])
            raise AssertionError("connected twice")
        except docker.errors.APIError:
            pass
        api.disconnect_container_from_network(ctr, net["Id"])
        assert api.inspect_network(net["Id"])["Containers"] == {}
        out = api.exec_start(api.exec_create(ctr, "ip -o addr"))
        assert b"eth0" not in out, out
        # Back on it while running, with the address and MAC asked for.
        api.connect_container_to_network(ctr, net["Id"], ipv4_address="172.31.77.9", mac_address="02:42:ac:11:00:09")
        ep = api.inspect_container(ctr)["NetworkSettings"]["Networks"]["py conf net"]
        assert ep["IPAddress"] == "172.31.77.9" and ep["MacAddress"] == "02:42:ac:11:00:09", ep
        assert ep["IPAMConfig"]["IPv4Address"] == "172.31.77.9", ep
        out = api.exec_start(api.exec_create(ctr, "ip -o addr show eth0"))
        assert b"172.31.77.9" in out, out
        # Endpoint settings at create are kept and shown; an unknown further network is refused.
        cfg = api.create_networking_config({"py conf net": api.create_endpoint_config(
            aliases=["al"], driver_opt={"k": "v"}, links=[(an, "up")])})
        ctr2 = api.create_container("busybox", "true", networking_config=cfg,
                                    host_config=api.create_host_config(network_mode="py conf net"))
        made.append(ctr2)
        ep = api.inspect_container(ctr2)["NetworkSettings"]["Networks"]["py conf net"]
        assert ep["Aliases"] == ["al"] and ep["DriverOpts"] == {"k": "v"} and ep["Links"] == [f"{an}:up"], ep
        # A network-scoped link is a name the linking container's DNS answers.
        api.connect_container_to_network(a, net["Id"])
        ctr3 = api.create_container("busybox", "nslookup up", networking_config=cfg_links(an),
                                    host_config=api.create_host_config(network_mode="py conf net"))
        made.append(ctr3)
        api.start(ctr3)
        assert api.wait(ctr3)["StatusCode"] == 0, api.logs(ctr3)
        cfg = api.create_networking_config({"py conf net": api.create_endpoint_config(),
                                            "no-such-net": api.create_endpoint_config()})
        try:
            api.create_container("busybox", "true", networking_config=cfg,
                                 host_config=api.create_host_config(network_mode="py conf net"))
            raise AssertionError("an unknown network was accepted")
        except docker.errors.APIError as e:
            assert e.status_code == 400, e
    finally:
        for x in made:
            api.remove_container(x, force=True, v=True)
        made = []
        api.remove_network(net["Id"])
finally:
    for x in made:
        try:
            api.remove_container(x, force=True, v=True)
        except docker.errors.APIError:
            pass
print("ok")
