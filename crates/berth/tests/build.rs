//! `berth build`: the Dockerfile language, stages, the cache, and what the image ends up with.

use crate::common::Berth;

fn context(b: &Berth, dockerfile: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let dir = b
        .path()
        .join(format!("ctx-{}", berth_engine::store::random_hex(4)));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}

const DOCKERFILE: &str = r#"ARG BASE=busybox
FROM $BASE AS base
RUN echo built > /built.txt

FROM busybox AS unused
RUN exit 1

FROM base
ARG GREETING=hello
ENV APP=/app MODE="two words"
WORKDIR $APP
COPY src/ ./src/
COPY --chown=33:33 hello.txt .
COPY --from=base /built.txt /from-base.txt
ADD archive.tar /opt/
RUN echo "$GREETING $MODE" > greeting
RUN <<EOF
echo heredoc-ran > /heredoc.txt
EOF
LABEL org.example.kind=test
EXPOSE 8080 53/udp
STOPSIGNAL SIGUSR1
USER 33
HEALTHCHECK --interval=5s --retries=2 CMD test -f /app/greeting
ENTRYPOINT ["cat"]
CMD ["/app/greeting"]
"#;

fn archive() -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(10);
    h.set_mode(0o644);
    t.append_data(&mut h, "inner/a.txt", &b"inarchive\n"[..])
        .unwrap();
    t.into_inner().unwrap()
}

#[test]
fn builds_every_instruction_and_caches() {
    let b = Berth::new();
    let ar = archive();
    let ctx = context(
        &b,
        DOCKERFILE,
        &[
            ("src/main.sh", b"code\n"),
            ("hello.txt", b"hi\n"),
            ("debug.log", b"junk\n"),
            (".dockerignore", b"*.log\n"),
            ("archive.tar", &ar),
        ],
    );
    let o = b.run(&[
        "build",
        "-t",
        "app:1",
        "--build-arg",
        "GREETING=bonjour",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("Step 1/")
            && o.stdout.contains("Successfully built")
            && o.stdout.contains("Successfully tagged app:1"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("exit 1"), "the unused stage did not run");
    assert_eq!(b.ok(&["run", "--rm", "app:1"]), "bonjour two words\n");
    let out = b.ok(&["run", "--rm", "--entrypoint", "sh", "app:1", "-c", "cat /app/src/main.sh /from-base.txt /opt/inner/a.txt /heredoc.txt; stat -c '%u:%g' /app/hello.txt; test -e /app/debug.log || echo ignored"]);
    assert_eq!(out, "code\nbuilt\ninarchive\nheredoc-ran\n33:33\nignored\n");
    let cfg = |f: &str| b.inspect("app:1", f);
    assert_eq!(cfg("{{json .Config.Cmd}}"), "[\"/app/greeting\"]");
    assert_eq!(cfg("{{json .Config.Entrypoint}}"), "[\"cat\"]");
    assert_eq!(
        cfg("{{.Config.User}} {{.Config.WorkingDir}} {{.Config.StopSignal}}"),
        "33 /app SIGUSR1"
    );
    assert!(cfg("{{json .Config.Env}}").contains("MODE=two words"));
    assert_eq!(
        cfg("{{json .Config.ExposedPorts}}"),
        "{\"53/udp\":{},\"8080/tcp\":{}}"
    );
    assert_eq!(cfg("{{index .Config.Labels \"org.example.kind\"}}"), "test");
    assert_eq!(
        cfg("{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Retries}}"),
        "[\"CMD-SHELL\",\"test -f /app/greeting\"] 2"
    );
    assert!(b.ok(&["history", "app:1"]).lines().count() > 10);
    assert_eq!(b.containers_on_disk(), 0, "no build container left");
    // Unchanged: every step from cache, same image.
    let id1 = cfg("{{.Id}}");
    let o = b.run(&[
        "build",
        "-t",
        "app:1",
        "--build-arg",
        "GREETING=bonjour",
        ctx.to_str().unwrap(),
    ]);
    assert!(!o.stdout.contains("Running in"), "{}", o.stdout);
    assert!(
        o.stdout.matches("Using cache").count() >= 10,
        "{}",
        o.stdout
    );
    assert_eq!(cfg("{{.Id}}"), id1);
    // One file changed: only the steps from its COPY on run again.
    std::fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let o = b.run(&[
        "build",
        "-q",
        "-t",
        "app:2",
        "--build-arg",
        "GREETING=bonjour",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.trim().starts_with("sha256:") && o.stdout.lines().count() == 1,
        "-q prints only the id: {}",
        o.stdout
    );
    assert_ne!(b.inspect("app:2", "{{.Id}}"), id1);
    let o = b.run(&[
        "build",
        "-t",
        "app:2",
        "--build-arg",
        "GREETING=bonjour",
        ctx.to_str().unwrap(),
    ]);
    let before_copy = o
        .stdout
        .split("COPY --chown")
        .next()
        .unwrap()
        .matches("Using cache")
        .count();
    assert!(before_copy >= 4, "{}", o.stdout);
    // --no-cache runs everything; --target stops at a stage.
    let o = b.run(&[
        "build",
        "--no-cache",
        "--target",
        "base",
        "-t",
        "base:1",
        ctx.to_str().unwrap(),
    ]);
    assert!(
        !o.stdout.contains("Using cache") && o.stdout.contains("Running in"),
        "{}",
        o.stdout
    );
    assert_eq!(
        b.ok(&["run", "--rm", "base:1", "cat", "/built.txt"]),
        "built\n"
    );
    assert!(
        !b.ok(&["images", "--format", "{{.Repository}}"])
            .contains("<none>"),
        "intermediate images hidden"
    );
}

#[test]
fn failing_run_reports_and_leaves_nothing() {
    let b = Berth::new();
    let ctx = context(&b, "FROM busybox\nRUN echo before; exit 3\n", &[]);
    let o = b.run(&["build", "-t", "bad:1", ctx.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("before"), "{o:?}");
    assert!(
        o.stderr
            .contains("The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"),
        "{o:?}"
    );
    assert_eq!(b.containers_on_disk(), 0, "no build container left");
    b.fails(&["image", "inspect", "bad:1"], 1);
    assert_ne!(
        b.run(&["build", ctx.join("nope").to_str().unwrap()]).code,
        0
    );
    let ctx = context(&b, "FROM busybox\nCOPY missing.txt /\n", &[]);
    let o = b.run(&["build", ctx.to_str().unwrap()]);
    assert!(
        o.stderr.contains("file not found in build context"),
        "{o:?}"
    );
    let ctx = context(&b, "FROM no-such-base\n", &[]);
    assert_ne!(b.run(&["build", ctx.to_str().unwrap()]).code, 0);
}

#[test]
fn dockerfile_from_stdin_exec_form_and_dockerignore_exceptions() {
    let b = Berth::new();
    let o = b.run_stdin(
        &["build", "-t", "stdin:1", "-"],
        b"FROM busybox\nRUN [\"sh\", \"-c\", \"echo exec-form > /f\"]\nCMD cat /f\n",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(b.ok(&["run", "--rm", "stdin:1"]), "exec-form\n");
    let ctx = context(
        &b,
        "FROM busybox\nCOPY . /ctx/\n",
        &[
            ("a.log", b"x"),
            ("keep.log", b"k"),
            ("dir/b.log", b"y"),
            ("dir/c.txt", b"c"),
            (".dockerignore", b"**/*.log\n!keep.log\n"),
        ],
    );
    b.ok(&["build", "-t", "ign:1", ctx.to_str().unwrap()]);
    let out = b.ok(&[
        "run",
        "--rm",
        "ign:1",
        "sh",
        "-c",
        "cd /ctx && find . -type f | sort",
    ]);
    assert!(
        out.contains("./keep.log")
            && out.contains("./dir/c.txt")
            && !out.contains("a.log")
            && !out.contains("b.log"),
        "{out}"
    );
    let iid = b.path().join("iid");
    b.ok(&[
        "build",
        "--iidfile",
        iid.to_str().unwrap(),
        "--label",
        "via=flag",
        ctx.to_str().unwrap(),
    ]);
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(b.inspect(&id, "{{index .Config.Labels \"via\"}}"), "flag");
}

#[test]
fn onbuild_triggers_run_in_the_child_build_and_are_not_inherited() {
    let b = Berth::new();
    let base = context(
        &b,
        "FROM busybox\nONBUILD COPY app.txt /app.txt\nONBUILD RUN echo triggered > /t\n",
        &[],
    );
    b.ok(&["build", "-t", "onb/base", base.to_str().unwrap()]);
    assert_eq!(
        b.inspect("onb/base", "{{json .Config.OnBuild}}"),
        r#"["COPY app.txt /app.txt","RUN echo triggered > /t"]"#
    );
    let child = context(
        &b,
        "FROM onb/base\nCMD [\"cat\", \"/t\", \"/app.txt\"]\n",
        &[("app.txt", b"from the child's context\n")],
    );
    let out = b.ok(&["build", "-t", "onb/child", child.to_str().unwrap()]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", "onb/child"]),
        "triggered\nfrom the child's context\n"
    );
    assert_eq!(b.inspect("onb/child", "{{json .Config.OnBuild}}"), "null");
}

#[test]
fn a_builds_step_containers_are_not_listed() {
    let b = Berth::new();
    let ctx = context(&b, "FROM busybox\nRUN touch /started && sleep 2\n", &[]);
    let mut build = b
        .cmd(&["build", "-q", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    b.wait_for(10, "the RUN step's container", || {
        b.containers_on_disk() == 1
    });
    let listed = b.ok(&["ps", "-aq"]);
    assert!(build.wait().unwrap().success());
    assert_eq!(
        listed, "",
        "ps -a lists no build step, as BuildKit's are no containers"
    );
    assert_eq!(
        b.containers_on_disk(),
        0,
        "the step's container is gone after the build"
    );
}

#[test]
fn copy_streams_a_big_file_instead_of_holding_it_in_memory() {
    let b = Berth::new();
    let ctx = context(&b, "FROM busybox\nCOPY big /big\n", &[]);
    // 256 MiB, sparse on the host: the copy reads every byte of it.
    std::fs::File::create(ctx.join("big"))
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    // Waited for with wait4 below, for its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = b
        .cmd(&["build", "-q", "-t", "big:1", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "build failed"
    );
    let peak_mib = usage.ru_maxrss / 1024;
    assert!(
        peak_mib < 128,
        "the build held {peak_mib} MiB for a 256 MiB file"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "big:1", "sh", "-c", "wc -c < /big"])
            .trim(),
        (256u64 << 20).to_string()
    );
}
