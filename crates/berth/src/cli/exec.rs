//! `exec` and `top`.

use super::attach::{detach_keys, restore_terminal, terminal_size, DetachMatcher, RawMode};
use super::create_request::{env_entry, read_env_file};
use super::{ExecArgs, TopArgs};
use crate::{CmdResult, Exit};
use anyhow::Context;
use berth_engine::{Engine, ExecRequest};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

fn wait_code(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return 137;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Records the end of an exec'd process (the CLI is its parent, so it is the one that knows).
fn exec_died(engine: &Engine, id: &str, code: i32) {
    if let Ok(rec) = engine.record(id) {
        engine.emit(&rec, "exec_die", &[("exitCode", &code.to_string())]);
    }
}

fn set_size(master: &OwnedFd) {
    if let Some((rows, cols)) = terminal_size() {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the struct.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Forwards signals sent to the CLI: to the exec'd process (no terminal), or resizes the
/// terminal on SIGWINCH; a SIGTERM/SIGHUP with a terminal restores it and quits.
fn signal_thread(pid: i32, master: Option<std::sync::Arc<OwnedFd>>) {
    use nix::sys::signal::Signal;
    let set = super::attach::forwarded_signals();
    let _ = set.thread_block();
    std::thread::spawn(move || loop {
        let Ok(sig) = set.wait() else { continue };
        match (&master, sig) {
            (Some(m), Signal::SIGWINCH) => set_size(m),
            (None, Signal::SIGWINCH) => {}
            (Some(_), _) => {
                restore_terminal();
                std::process::exit(128 + sig as i32);
            }
            (None, s) => {
                // SAFETY: kill(2) of our own child.
                unsafe { libc::kill(pid, s as i32) };
            }
        }
    });
}

/// `berth exec`.
pub fn exec(engine: &Engine, a: ExecArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().filter_map(|e| env_entry(e)));
    let keys = detach_keys(a.detach_keys.as_deref())?;
    let mut req = ExecRequest {
        cmd: a.command.clone(),
        env,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        privileged: a.privileged,
        ..Default::default()
    };
    // A detached exec keeps no terminal: nobody would hold its master side.
    if a.tty && !a.detach {
        let (master, slave) = engine.open_pty(&id)?;
        set_size(&master);
        req.tty_path = Some(slave);
        let pid = engine.exec(&id, &req)?;
        let master = std::sync::Arc::new(master);
        let stdin_is_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
        let _raw = if a.interactive && stdin_is_tty {
            RawMode::enter()
        } else {
            None
        };
        signal_thread(pid, Some(master.clone()));
        let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if a.interactive {
            let m = master.clone();
            let det = detached.clone();
            let mut matcher = DetachMatcher::new(keys);
            std::thread::spawn(move || {
                let mut out = std::fs::File::from(m.try_clone().expect("dup terminal"));
                let mut buf = [0u8; 16 * 1024];
                let mut stdin = std::io::stdin().lock();
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            let _ = out.write_all(&[4]);
                            break;
                        }
                        Ok(n) => {
                            let (data, detach) = matcher.feed(&buf[..n]);
                            if !data.is_empty() && out.write_all(&data).is_err() {
                                break;
                            }
                            if detach {
                                det.store(true, std::sync::atomic::Ordering::SeqCst);
                                restore_terminal();
                                std::process::exit(0);
                            }
                        }
                    }
                }
            });
        }
        let mut input = std::fs::File::from(master.try_clone().context("dup terminal")?);
        let mut buf = [0u8; 16 * 1024];
        let stdout = std::io::stdout();
        // EIO once the last process holding the terminal's slave side is gone.
        while let Ok(n) = input.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut o = stdout.lock();
            let _ = o.write_all(&buf[..n]);
            let _ = o.flush();
        }
        let code = wait_code(pid);
        exec_died(engine, &id, code);
        return Ok(code);
    }
    if !a.detach {
        req.stdio = [a.interactive.then_some(0), Some(1), Some(2)];
    }
    let pid = engine.exec(&id, &req)?;
    if a.detach {
        return Ok(0);
    }
    signal_thread(pid, None);
    let code = wait_code(pid);
    exec_died(engine, &id, code);
    Ok(code)
}

/// `berth top`: `ps` (default `-ef`) rows of the container's processes.
pub fn top(engine: &Engine, a: TopArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let (titles, rows) = engine.top(&id, &a.ps_args).map_err(|e| Exit {
        code: 1,
        message: format!("Error response from daemon: {e}"),
    })?;
    let mut table = titles.join("\t");
    table.push('\n');
    for r in rows {
        table.push_str(&r.join("\t"));
        table.push('\n');
    }
    print!("{}", crate::format::tabwrite(&table));
    Ok(0)
}
