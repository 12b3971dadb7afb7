//! `pull`, `push`, `login`, `logout`, and the progress display Docker users know.

use super::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::CmdResult;
use anyhow::{bail, Context};
use berth_engine::reference::Reference;
use berth_engine::registry::auth::{self, Credentials};
use berth_engine::registry::pull::PullEvent;
use berth_engine::registry::PullOptions;
use berth_engine::Engine;
use std::io::{IsTerminal, Read, Write};
use std::sync::Mutex;

/// Prints progress as Docker's jsonmessage does: a line per layer redrawn in place on a
/// terminal, status changes only (no bars) otherwise.
pub struct Progress {
    tty: bool,
    to_stderr: bool,
    quiet: bool,
    lines: Mutex<Vec<String>>,
}

impl Progress {
    /// A display on stdout (`pull`, `push`) or stderr (`run`'s implicit pull).
    pub fn new(to_stderr: bool, quiet: bool) -> Self {
        let tty = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        Progress {
            tty,
            to_stderr,
            quiet,
            lines: Mutex::new(Vec::new()),
        }
    }

    fn write(&self, s: &str) {
        if self.to_stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(s.as_bytes());
            let _ = e.flush();
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(s.as_bytes());
            let _ = o.flush();
        }
    }

    /// Shows one event.
    pub fn show(&self, ev: PullEvent) {
        if self.quiet {
            return;
        }
        let mut lines = self.lines.lock().unwrap();
        match ev {
            PullEvent::Status(s) => {
                lines.clear();
                self.write(&format!("{s}\n"));
            }
            PullEvent::Layer {
                id,
                status,
                progress,
            } => {
                if !self.tty {
                    if progress.is_none() {
                        self.write(&format!("{id}: {status}\n"));
                    }
                    return;
                }
                let text = match progress {
                    Some((n, total)) => format!("{id}: {status} {}", bar(n, total)),
                    None => format!("{id}: {status}"),
                };
                match lines.iter().position(|l| *l == id) {
                    Some(i) => {
                        let up = lines.len() - i;
                        self.write(&format!("\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r"));
                    }
                    None => {
                        lines.push(id);
                        self.write(&format!("{text}\n"));
                    }
                }
            }
        }
    }
}

fn bar(n: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (n.min(total) * width).checked_div(total).unwrap_or(0) as usize;
    let mut b = "=".repeat(filled.saturating_sub(1));
    if filled > 0 {
        b.push('>');
    }
    format!(
        "[{b:<50}]  {}/{}",
        crate::human::size(n),
        crate::human::size(total)
    )
}

/// Pulls `image` showing its progress. Shared by `pull` and `run`.
pub fn pull_image(
    engine: &Engine,
    image: &str,
    platform: Option<String>,
    progress: &Progress,
) -> anyhow::Result<String> {
    let r = Reference::parse(image)?;
    let res = engine.pull(
        &r,
        &PullOptions {
            platform,
            credentials: None,
        },
        &|e| progress.show(e),
    )?;
    Ok(res.id)
}

/// `berth pull`.
pub fn pull(engine: &Engine, a: PullArgs) -> CmdResult {
    let r = Reference::parse(&a.image)?;
    if a.all_tags {
        if r.digest().is_some() || a.image.rsplit('/').next().is_some_and(|l| l.contains(':')) {
            bail!("tag can't be used with --all-tags/-a");
        }
        let tags = engine.list_tags(&r)?;
        let p = Progress::new(false, a.quiet);
        for t in tags {
            let tr = r.with_tag(&t)?;
            pull_image(engine, &tr.to_string(), a.platform.clone(), &p)?;
        }
        println!("{}", r.name());
        return Ok(0);
    }
    let p = Progress::new(false, a.quiet);
    pull_image(engine, &a.image, a.platform, &p)?;
    println!("{r}");
    Ok(0)
}

/// `berth push`.
pub fn push(engine: &Engine, a: PushArgs) -> CmdResult {
    let r = Reference::parse(&a.image)?;
    let p = Progress::new(false, a.quiet);
    let refs: Vec<Reference> = if a.all_tags {
        let mut v: Vec<Reference> = engine
            .images
            .all_refs()
            .into_iter()
            .map(|(r, _)| r)
            .filter(|x| x.name() == r.name() && x.tag().is_some() && x.digest().is_none())
            .collect();
        v.sort_by(|a, b| a.tag().cmp(&b.tag()));
        if v.is_empty() {
            bail!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            );
        }
        v
    } else {
        vec![r]
    };
    for r in refs {
        let res = engine.push(&r, None, &|e| p.show(e))?;
        if a.quiet {
            println!("{}", r.familiar());
        } else {
            println!("{}: digest: {} size: {}", res.tag, res.digest, res.size);
        }
    }
    Ok(0)
}

/// `berth login`: checks the credentials against the registry, then stores them.
pub fn login(_engine: &Engine, a: LoginArgs) -> CmdResult {
    let host = berth_engine::registry::login_host(a.server.as_deref());
    let username = match a.username {
        Some(u) => u,
        None => {
            if !std::io::stdin().is_terminal() {
                bail!("Cannot perform an interactive login from a non TTY device");
            }
            eprint!("Username: ");
            let mut u = String::new();
            std::io::stdin().read_line(&mut u)?;
            u.trim().to_string()
        }
    };
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut p = String::new();
        std::io::stdin()
            .read_to_string(&mut p)
            .context("read password from stdin")?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        bail!(
            "a password is required: use --password-stdin (interactive prompts are not supported)"
        );
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let creds = Credentials {
        username,
        secret: password,
    };
    berth_engine::registry::check_credentials(&host, &creds)?;
    auth::store(&host, &creds)?;
    println!("Login Succeeded");
    Ok(0)
}

/// `berth logout`.
pub fn logout(_engine: &Engine, a: LogoutArgs) -> CmdResult {
    let host = berth_engine::registry::login_host(a.server.as_deref());
    if auth::erase(&host)? {
        println!("Removing login credentials for {}", auth::auth_key(&host));
    } else {
        println!("Not logged in to {}", auth::auth_key(&host));
    }
    Ok(0)
}
