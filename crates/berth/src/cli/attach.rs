//! Attaching to a container: streaming its frames, the detach keys, the terminal in raw mode
//! and the signals an attached CLI forwards.

use crate::CmdResult;
use anyhow::{anyhow, bail, Context};
use berth_engine::shim::{
    read_frame, write_frame, FRAME_EXIT, FRAME_RESIZE, FRAME_STDERR, FRAME_STDIN, FRAME_STDIN_EOF,
    FRAME_STDOUT,
};
use berth_engine::Engine;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// The terminal settings to put back, shared with the signal thread so a SIGTERM or SIGHUP to
/// the CLI still leaves the user's terminal as it was.
static SAVED_TERMIOS: std::sync::Mutex<Option<nix::sys::termios::Termios>> =
    std::sync::Mutex::new(None);

/// Puts back the terminal settings that [`RawMode::enter`] saved, if any.
pub fn restore_terminal() {
    if let Some(t) = SAVED_TERMIOS.lock().ok().and_then(|mut g| g.take()) {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &t);
    }
}

/// Restores the terminal's settings when dropped (every way out of an attach).
pub struct RawMode;

impl RawMode {
    /// Puts the terminal on stdin into raw mode.
    pub fn enter() -> Option<RawMode> {
        use nix::sys::termios::*;
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        *SAVED_TERMIOS.lock().ok()? = Some(saved);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The host terminal's size (rows, columns), if stdin is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the struct.
    let r = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Docker's detach-key syntax: comma-separated `ctrl-<x>` or single characters.
pub fn parse_detach_keys(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        let b = if let Some(k) = p.strip_prefix("ctrl-") {
            let c = k
                .chars()
                .next()
                .filter(|_| k.chars().count() == 1)
                .ok_or_else(|| anyhow!("Invalid detach keys ({s}) provided"))?;
            match c {
                'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => bail!("Invalid detach keys ({s}) provided"),
            }
        } else if p.chars().count() == 1 && p.is_ascii() {
            p.as_bytes()[0]
        } else {
            bail!("Invalid detach keys ({s}) provided");
        };
        out.push(b);
    }
    Ok(out)
}

/// The detach sequence: the flag, else `detachKeys` of berth's (or docker's) config file,
/// else Docker's ctrl-p,ctrl-q.
pub fn detach_keys(flag: Option<&str>) -> anyhow::Result<Vec<u8>> {
    if let Some(f) = flag {
        return parse_detach_keys(f);
    }
    if let Some(home) = std::env::var_os("HOME") {
        for cfg in [".berth/config.json", ".docker/config.json"] {
            let p = std::path::Path::new(&home).join(cfg);
            if let Ok(data) = std::fs::read(&p) {
                if let Some(k) = serde_json::from_slice::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|v| v["detachKeys"].as_str().map(String::from))
                {
                    return parse_detach_keys(&k).with_context(|| format!("in {}", p.display()));
                }
            }
        }
    }
    Ok(vec![16, 17])
}

/// Finds the detach sequence in what the user types; keys that only started the sequence are
/// passed on unchanged when the next key does not continue it.
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    /// A matcher for `keys` (empty: never detaches).
    pub fn new(keys: Vec<u8>) -> Self {
        DetachMatcher { keys, matched: 0 }
    }

    /// Feeds input; returns the bytes to forward and whether the sequence completed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // The partial sequence was just keys after all.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// How to attach.
pub struct AttachOptions {
    /// Forward our stdin.
    pub interactive: bool,
    /// The container has a terminal: raw mode, resizes, one output stream.
    pub tty: bool,
    /// Forward signals sent to the CLI to the container.
    pub sig_proxy: bool,
    /// The detach sequence.
    pub detach_keys: Vec<u8>,
}

fn send(w: &std::sync::Mutex<UnixStream>, kind: u8, data: &[u8]) -> bool {
    match w.lock() {
        Ok(mut g) => write_frame(&mut *g, kind, data).is_ok(),
        Err(_) => false,
    }
}

fn resize_frame(w: &std::sync::Mutex<UnixStream>) {
    if let Some((r, c)) = terminal_size() {
        let mut p = Vec::with_capacity(4);
        p.extend_from_slice(&r.to_be_bytes());
        p.extend_from_slice(&c.to_be_bytes());
        send(w, FRAME_RESIZE, &p);
    }
}

/// Streams an attached container until it exits (returns its exit code) or the user detaches
/// (returns 0, the container keeps running).
pub fn attach_stream(engine: &Engine, id: &str, sock: UnixStream, o: AttachOptions) -> CmdResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stdin_is_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let _raw = if o.tty && o.interactive && stdin_is_tty {
        RawMode::enter()
    } else {
        None
    };
    let writer = Arc::new(std::sync::Mutex::new(
        sock.try_clone().context("clone attach socket")?,
    ));
    let detached = Arc::new(AtomicBool::new(false));
    if o.tty {
        resize_frame(&writer);
    }
    {
        use nix::sys::signal::Signal;
        let set = forwarded_signals();
        // Blocked here and in every thread started after, so only the waiter below sees them.
        let _ = set.thread_block();
        let engine = engine.clone();
        let id = id.to_string();
        let w = writer.clone();
        let (tty, proxy) = (o.tty, o.sig_proxy);
        std::thread::spawn(move || loop {
            let Ok(sig) = set.wait() else { continue };
            if sig == Signal::SIGWINCH {
                if tty {
                    resize_frame(&w);
                }
            } else if proxy {
                let _ = engine.kill(&id, sig as i32);
            } else if matches!(
                sig,
                Signal::SIGTERM | Signal::SIGHUP | Signal::SIGINT | Signal::SIGQUIT
            ) {
                restore_terminal();
                std::process::exit(128 + sig as i32);
            }
        });
    }
    if o.interactive {
        let w = writer.clone();
        let det = detached.clone();
        let sock_for_detach = sock.try_clone().context("clone attach socket")?;
        let mut matcher = DetachMatcher::new(o.detach_keys);
        std::thread::spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        send(&w, FRAME_STDIN_EOF, &[]);
                        break;
                    }
                    Ok(n) => {
                        let (data, detach) = matcher.feed(&buf[..n]);
                        if !data.is_empty() && !send(&w, FRAME_STDIN, &data) {
                            break;
                        }
                        if detach {
                            det.store(true, Ordering::SeqCst);
                            let _ = sock_for_detach.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                    }
                }
            }
        });
    }
    let mut r = std::io::BufReader::with_capacity(64 * 1024, &sock);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        match read_frame(&mut r) {
            Ok(Some((FRAME_STDOUT, d))) => {
                let mut out = stdout.lock();
                let _ = out.write_all(&d);
                let _ = out.flush();
            }
            Ok(Some((FRAME_STDERR, d))) => {
                let mut e = stderr.lock();
                let _ = e.write_all(&d);
                let _ = e.flush();
            }
            Ok(Some((FRAME_EXIT, d))) if d.len() == 4 => {
                return Ok(i32::from_be_bytes([d[0], d[1], d[2], d[3]]))
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if detached.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                // The shim went away without a word (killed): whatever the state says.
                return Ok(engine.wait(id).unwrap_or(137));
            }
        }
    }
}

/// The signals an attached CLI takes over: forwarded to the container (or, for SIGWINCH,
/// turned into a resize); blocked and waited for in one thread.
pub(crate) fn forwarded_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn matcher_detaches_and_passes_partial_sequences_through() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(m.feed(&[16]), (vec![], false));
        assert_eq!(
            m.feed(b"x"),
            (vec![16, b'x'], false),
            "ctrl-p then x reaches the container"
        );
        assert_eq!(m.feed(&[16, 16]), (vec![16], false));
        assert_eq!(m.feed(&[17, b'z']), (vec![], true));
        let mut never = DetachMatcher::new(vec![]);
        assert_eq!(never.feed(&[16, 17]), (vec![16, 17], false));
    }
}
