//! Interactive containers on real pseudo-terminals: run -it, exit, Ctrl+D, Ctrl+C, detach and
//! attach, resize, exec -it, and the terminal always restored.

use crate::common::{Berth, Term};

#[test]
fn run_it_gives_a_shell_on_its_own_terminal() {
    let b = Berth::new();
    let mut t = Term::spawn(
        &b,
        &["run", "-it", "--name", "box", "busybox", "sh"],
        24,
        80,
    );
    t.expect("/ # ", 10);
    let id = b.inspect("box", "{{.Id}}");
    let mark = t.seen.len();
    t.send(b"hostname; tty; stty size; echo T=$TERM\r");
    t.expect_from(mark, "T=xterm", 10);
    let out = t.seen[mark..].to_string();
    assert!(out.contains(&id[..12]), "hostname is the short id: {out:?}");
    assert!(out.contains("/dev/pts/0"), "its own devpts: {out:?}");
    assert!(out.contains("24 80"), "the host terminal's size: {out:?}");
    t.send(b"exit 3\r");
    assert_eq!(t.wait(10), 3);
    assert!(
        t.settings_restored(),
        "terminal settings restored after exit"
    );
    assert_eq!(
        b.inspect("box", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    let logs = b.ok(&["logs", "box"]);
    assert!(
        logs.contains("/dev/pts/0"),
        "a -t container's output is logged too: {logs:?}"
    );
}

#[test]
fn ctrl_d_ends_and_ctrl_c_reaches_the_container() {
    let b = Berth::new();
    let mut t = Term::spawn(&b, &["run", "-it", "--rm", "busybox", "sh"], 24, 80);
    t.expect("/ # ", 10);
    t.send(b"sleep 30\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mark = t.seen.len();
    t.send(b"\x03");
    t.send(b"echo interrupted-$?\r");
    // sleep was killed by SIGINT (130) inside the container; berth is still attached.
    t.expect_from(mark, "interrupted-130", 5);
    t.send(b"\x04");
    assert_eq!(t.wait(10), 0, "Ctrl+D ends the shell");
    assert!(t.settings_restored());
}

#[test]
fn detach_and_attach_again() {
    let b = Berth::new();
    let mut t = Term::spawn(
        &b,
        &["run", "-it", "--name", "det", "busybox", "sh"],
        24,
        80,
    );
    t.expect("/ # ", 10);
    t.send(b"\x10\x11");
    assert_eq!(t.wait(10), 0, "Ctrl+P Ctrl+Q detaches");
    assert!(t.settings_restored());
    assert_eq!(
        b.inspect("det", "{{.State.Running}}"),
        "true",
        "the container keeps running"
    );

    let mut a = Term::spawn(&b, &["attach", "det"], 30, 100);
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.send(b"echo attached-$((40+2)); stty size\r");
    a.expect("attached-42", 10);
    a.expect("30 100", 10);
    a.resize(40, 120);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mark = a.seen.len();
    a.send(b"stty size\r");
    a.expect_from(mark, "40 120", 10);
    // A second client at the same time sees the same output.
    let mut c = Term::spawn(&b, &["attach", "--no-stdin", "det"], 24, 80);
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.send(b"echo both-see-this\r");
    c.expect("both-see-this", 10);
    a.send(b"exit 5\r");
    assert_eq!(a.wait(10), 5);
    assert_eq!(c.wait(10), 5);
    assert!(a.settings_restored());
    let o = b.fails(&["attach", "det"], 1);
    assert!(
        o.stderr
            .contains("You cannot attach to a stopped container"),
        "{o:?}"
    );
}

#[test]
fn custom_detach_keys_and_partial_sequences() {
    let b = Berth::new();
    // ctrl-x followed by another key is not the sequence: both keys reach the container.
    let mut t = Term::spawn(
        &b,
        &[
            "run",
            "-it",
            "--rm",
            "--detach-keys",
            "ctrl-x,x",
            "busybox",
            "sh",
            "-c",
            "read l; printf %s \"$l\" | od -An -c",
        ],
        24,
        80,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.send(b"A\x18B\r");
    t.expect("A 030   B", 10);
    assert_eq!(t.wait(10), 0);
    // The whole sequence detaches, and Ctrl+P is no longer special.
    let mut t = Term::spawn(
        &b,
        &[
            "run",
            "-it",
            "--detach-keys",
            "ctrl-x,x",
            "--name",
            "dk",
            "busybox",
            "sh",
        ],
        24,
        80,
    );
    t.expect("/ # ", 10);
    t.send(b"\x10\x11");
    std::thread::sleep(std::time::Duration::from_millis(200));
    t.send(b"\x18x");
    assert_eq!(t.wait(10), 0);
    assert!(t.settings_restored());
    assert_eq!(b.inspect("dk", "{{.State.Running}}"), "true");
    b.fails(
        &["run", "--rm", "--detach-keys", "ctrl-", "busybox", "true"],
        125,
    );
}

#[test]
fn run_d_it_then_attach_and_start_ai() {
    let b = Berth::new();
    b.ok(&["run", "-d", "-it", "--name", "later", "busybox", "sh"]);
    let mut a = Term::spawn(&b, &["attach", "later"], 24, 80);
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.send(b"echo later-ok\r");
    a.expect("later-ok", 10);
    a.send(b"exit\r");
    assert_eq!(a.wait(10), 0);
    let mut s = Term::spawn(&b, &["start", "-a", "-i", "later"], 24, 80);
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.send(b"echo started-again\r");
    s.expect("started-again", 10);
    s.send(b"exit 2\r");
    assert_eq!(s.wait(10), 2);
    assert!(s.settings_restored());
}

#[test]
fn exec_it_into_a_running_container() {
    let b = Berth::new();
    b.ok(&["run", "-d", "--name", "svc", "busybox", "sleep", "300"]);
    let mut t = Term::spawn(&b, &["exec", "-it", "svc", "sh"], 25, 90);
    t.expect("# ", 10);
    let mark = t.seen.len();
    t.send(b"tty; stty size; tr '\\0' ' ' < /proc/1/cmdline; echo\r");
    t.expect_from(mark, "sleep 300", 10);
    assert!(t.seen[mark..].contains("25 90"), "{:?}", t.seen);
    assert!(t.seen[mark..].contains("/dev/pts/"), "{:?}", t.seen);
    t.send(b"exit 4\r");
    assert_eq!(t.wait(10), 4);
    assert!(t.settings_restored());
}

#[test]
fn exec_without_terminal_and_its_errors() {
    let b = Berth::new();
    b.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "300"]);
    let o = b.run(&[
        "exec",
        "ex",
        "sh",
        "-c",
        "echo $$ $(hostname); id -u; grep Seccomp: /proc/self/status; exit 6",
    ]);
    assert_eq!(o.code, 6, "{o:?}");
    let hostname = b.inspect("ex", "{{.Config.Hostname}}");
    assert!(
        o.stdout.starts_with(&format!("2 {hostname}\n0\n")),
        "same pid/uts namespaces: {o:?}"
    );
    assert!(
        o.stdout.contains("Seccomp:\t2"),
        "same seccomp filter: {o:?}"
    );
    let o = b.run(&[
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "X=y",
        "ex",
        "sh",
        "-c",
        "id -u; pwd; echo $X",
    ]);
    assert_eq!(o.stdout, "65534\n/tmp\ny\n");
    let o = b.run_stdin(&["exec", "-i", "ex", "cat"], b"piped\n");
    assert_eq!(o.stdout, "piped\n");
    b.fails(&["exec", "ex", "no-such-cmd"], 127);
    b.fails(&["exec", "ex", "/etc"], 126);
    b.ok(&[
        "exec",
        "-d",
        "ex",
        "sh",
        "-c",
        "sleep 1; touch /tmp/detached-ran",
    ]);
    b.wait_for(10, "detached exec", || {
        b.run(&["exec", "ex", "test", "-e", "/tmp/detached-ran"])
            .code
            == 0
    });
    let top = b.ok(&["top", "ex"]);
    assert!(top.starts_with("UID") && top.contains("sleep 300"), "{top}");
    b.ok(&["stop", "-t", "0", "ex"]);
    let o = b.fails(&["exec", "ex", "true"], 1);
    assert!(o.stderr.contains("is not running"), "{o:?}");
}

#[test]
fn signals_are_proxied_without_a_terminal() {
    let b = Berth::new();
    let mut child = b
        .cmd(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-term; exit 9' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // SAFETY: kill(2).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let code = child.wait().unwrap().code();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(
        code,
        Some(9),
        "the container's trap ran and its code came back"
    );
    assert_eq!(rest, "got-term\n");
}
