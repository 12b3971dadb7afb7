//! `exec` and `top`, and the terminal an exec runs on.

use crate::container::{spec, State, Status};
use crate::error::{Error, IoContext, Result};
use crate::store;
use crate::Engine;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// What `exec` runs and how.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// Command and arguments.
    pub cmd: Vec<String>,
    /// Extra `KEY=value` variables.
    pub env: Vec<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `-w dir`.
    pub workdir: Option<String>,
    /// `--privileged`: every capability, no seccomp.
    pub privileged: bool,
    /// fds 0, 1, 2 of the process (None: /dev/null), when there is no terminal.
    pub stdio: [Option<RawFd>; 3],
    /// The terminal inside the container (from [`Engine::open_pty`]).
    pub tty_path: Option<String>,
    /// An id the caller made and announced with `exec_create` (the API's exec instances);
    /// None: one is made here and both events are emitted.
    pub exec_id: Option<String>,
}

/// Docker's rule: a process joins only a running container, and a paused one says so.
fn can_exec(id: &str, st: &State) -> Result<()> {
    match st.status {
        Status::Running => Ok(()),
        Status::Paused => Err(Error::conflict(format!(
            "Container {id} is paused, unpause the container before exec"
        ))),
        _ => Err(Error::conflict(format!("container {id} is not running"))),
    }
}

impl Engine {
    /// Records an exec instance of `cmd` in container `id` under `exec_id` (the API's
    /// `POST /containers/{id}/exec`): refused as `exec` would be, announced with
    /// `exec_create`; it starts with [`Engine::exec`] given the same id.
    pub fn exec_create(&self, id: &str, cmd: &[String], exec_id: &str) -> Result<()> {
        if cmd.is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        can_exec(id, &self.state(id)?)?;
        let rec = self.record(id)?;
        self.emit(
            &rec,
            "exec_create",
            &[("execID", exec_id), ("execCommand", &cmd.join(" "))],
        );
        Ok(())
    }

    /// Runs one more process in a running container (Docker's `exec`); returns its host pid.
    /// The process is the caller's child: the caller waits for it and gets its exit code.
    pub fn exec(&self, id: &str, req: &ExecRequest) -> Result<i32> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        can_exec(id, &st)?;
        if req.cmd.is_empty() {
            return Err(Error::invalid("no command specified"));
        }
        let dir = self.containers.dir(id);
        let spec = berth_runtime::load_spec(&dir)?;
        let mut process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::internal("the container's spec has no process"))?;
        process.set_args(Some(req.cmd.clone()));
        process.set_terminal(Some(req.tty_path.is_some()));
        let mut env = process.env().clone().unwrap_or_default();
        for e in &req.env {
            let key = e.split_once('=').map(|x| x.0).unwrap_or(e);
            env.retain(|x| x.split_once('=').map(|y| y.0).unwrap_or(x) != key);
            env.push(e.clone());
        }
        if req.tty_path.is_some() && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        if let Some(u) = &req.user {
            let ru = self.resolve_user(&rec, u, None)?;
            let user = process.user_mut();
            user.set_uid(ru.uid);
            user.set_gid(ru.gid);
            user.set_additional_gids(Some(ru.additional_gids));
            env.retain(|e| !e.starts_with("HOME="));
            env.push(format!("HOME={}", ru.home));
        }
        process.set_env(Some(env));
        if let Some(w) = &req.workdir {
            if !w.starts_with('/') {
                return Err(Error::invalid(format!(
                    "the working directory '{w}' is invalid, it needs to be an absolute path"
                )));
            }
            process.set_cwd(w.into());
        }
        let mut seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        if req.privileged {
            let mut hc = rec.host_config.clone();
            hc.privileged = true;
            let all: Vec<oci_spec::runtime::Capability> = spec::capabilities(&hc)?
                .iter()
                .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.clone())).ok())
                .collect();
            let set: oci_spec::runtime::Capabilities = all.into_iter().collect();
            let caps = oci_spec::runtime::LinuxCapabilitiesBuilder::default()
                .bounding(set.clone())
                .effective(set.clone())
                .permitted(set)
                .build()
                .map_err(|e| Error::internal(e.to_string()))?;
            process.set_capabilities(Some(caps));
            seccomp = None;
        }
        let bpf = if seccomp.is_some() {
            std::fs::read(dir.join("seccomp.bpf")).ok()
        } else {
            None
        };
        let cgroup =
            berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)));
        let opts = berth_runtime::exec::ExecOptions {
            target_pid: st.pid,
            process: &process,
            seccomp: seccomp.as_ref(),
            seccomp_bpf: bpf.as_deref(),
            cgroup: Some(&cgroup),
            stdio: req.stdio,
            tty_path: req.tty_path.clone(),
        };
        let cmdline = req.cmd.join(" ");
        let exec_id = match &req.exec_id {
            Some(x) => x.clone(),
            None => {
                let x = store::random_hex(32);
                self.emit(
                    &rec,
                    "exec_create",
                    &[("execID", &x), ("execCommand", &cmdline)],
                );
                x
            }
        };
        let pid = berth_runtime::exec::exec(&opts)?;
        self.emit(
            &rec,
            "exec_start",
            &[("execID", &exec_id), ("execCommand", &cmdline)],
        );
        Ok(pid)
    }

    /// `top`: the header and rows of `ps ARGS` (default `-ef`) for the container's processes.
    pub fn top(&self, id: &str, ps_args: &[String]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let st = self.state(id)?;
        if !st.status.is_live() {
            return Err(Error::conflict(format!("container {id} is not running")));
        }
        let pids: std::collections::HashSet<i32> = self.cgroup(id).pids().into_iter().collect();
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .ctx(|| "run ps".to_string())?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect();
        let Some(pid_col) = titles.iter().position(|c| c == "PID") else {
            return Err(Error::internal("Couldn't find PID field in ps output"));
        };
        let mut rows = Vec::new();
        for l in lines {
            // The last column (the command) may contain spaces.
            let words: Vec<&str> = l.split_whitespace().collect();
            let split = titles.len().saturating_sub(1).min(words.len());
            let mut fields: Vec<String> = words[..split].iter().map(|w| w.to_string()).collect();
            fields.push(words[split..].join(" "));
            if fields
                .get(pid_col)
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|p| pids.contains(&p))
            {
                rows.push(fields);
            }
        }
        Ok((titles, rows))
    }

    /// Opens a new terminal from a running container's own devpts instance: its master side and
    /// the slave's path inside the container (for `exec -t`).
    pub fn open_pty(&self, id: &str) -> Result<(OwnedFd, String)> {
        let st = self.state(id)?;
        if st.status != Status::Running {
            return Err(Error::conflict(format!("container {id} is not running")));
        }
        let path = format!("/proc/{}/root/dev/pts/ptmx", st.pid);
        // Inside the container's root and never through a link: the container controls its
        // /dev. What opens must be a pty multiplexer (char 5:2), nothing else of the host's.
        let root = crate::rooted::Rooted::open(Path::new(&format!("/proc/{}/root", st.pid)))
            .ctx(|| format!("open {path}"))?;
        let fd = root
            .open_at(
                "/dev/pts/ptmx",
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
                false,
            )
            .ctx(|| format!("open {path}"))?;
        let st_dev =
            rustix::fs::fstat(&fd).map_err(|e| Error::internal(format!("stat {path}: {e}")))?;
        let is_ptmx = rustix::fs::FileType::from_raw_mode(st_dev.st_mode)
            == rustix::fs::FileType::CharacterDevice
            && rustix::fs::major(st_dev.st_rdev) == 5
            && rustix::fs::minor(st_dev.st_rdev) == 2;
        if !is_ptmx {
            return Err(Error::invalid(format!("{path} is not a pty multiplexer")));
        }
        let mut n: libc::c_uint = 0;
        // SAFETY: TIOCSPTLCK/TIOCGPTN on our pty master.
        unsafe {
            let unlock: libc::c_int = 0;
            if libc::ioctl(fd.as_raw_fd(), libc::TIOCSPTLCK, &unlock) < 0
                || libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) < 0
            {
                return Err(Error::internal(format!(
                    "set up terminal: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        Ok((fd, format!("/dev/pts/{n}")))
    }
}
