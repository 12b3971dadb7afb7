//! berth's OCI runtime: turns an OCI runtime spec into a running, isolated process.
//!
//! Synchronous and small on purpose: this code runs in every container start and inside the
//! shim, which must stay lean. [`spawn`] clones the container's init with the spec's namespaces,
//! puts it into its cgroup, lets it build the root file system (`rootfs`), drop to the spec's
//! user and capabilities, load seccomp, and exec the process; it returns once the exec happened
//! or with the init's error and Docker's exit code for it.

pub mod caps;
pub mod cgroups;
pub mod error;
mod init;
pub mod rootfs;
pub mod seccomp;

pub use cgroups::{Cgroup, Version as CgroupVersion};
pub use error::{Result, RuntimeError, StartFailure};
pub use rootfs::RootfsMount;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// The descriptors that become the container's stdin, stdout and stderr (None: /dev/null).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdio {
    /// Becomes fd 0.
    pub stdin: Option<RawFd>,
    /// Becomes fd 1.
    pub stdout: Option<RawFd>,
    /// Becomes fd 2.
    pub stderr: Option<RawFd>,
    /// Stdin is a terminal's slave side that becomes the controlling terminal.
    pub tty: bool,
}

/// What [`spawn`] needs besides the spec.
pub struct SpawnOptions<'a> {
    /// The OCI runtime spec.
    pub spec: &'a Spec,
    /// Absolute path of the root file system directory (the spec's `root.path`, resolved).
    pub rootfs: PathBuf,
    /// Mounts placed onto `rootfs` first, inside the container's mount namespace.
    pub rootfs_mounts: &'a [RootfsMount],
    /// The container's standard streams.
    pub stdio: Stdio,
    /// The spec's seccomp filter already compiled by [`seccomp::compile_bpf`], which saves
    /// compiling it in every start.
    pub seccomp_bpf: Option<&'a [u8]>,
}

/// A started container process.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid on the host.
    pub pid: i32,
    /// Its cgroup, when the spec named one.
    pub cgroup: Option<Cgroup>,
}

/// Reads an OCI bundle's `config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| RuntimeError::sys(format!("read {}", path.display()), e))?;
    serde_json::from_slice(&data).map_err(|e| RuntimeError::Spec(format!("{}: {e}", path.display())))
}

fn pipe() -> Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(RuntimeError::sys("pipe", std::io::Error::last_os_error()));
    }
    Ok((fds[0], fds[1]))
}

fn close(fd: RawFd) {
    // SAFETY: closing a descriptor this function created.
    unsafe { libc::close(fd) };
}

/// Creates and starts the container process described by `opts`. The caller must be
/// single-threaded (the clone child runs Rust code on a copy of this process, as after fork).
pub fn spawn(opts: &SpawnOptions) -> Result<Spawned> {
    let spec = opts.spec;
    let linux = spec.linux().as_ref();
    let mut flags: libc::c_long = 0;
    let mut new_cgroupns = false;
    let mut join = Vec::new();
    for ns in linux.and_then(|l| l.namespaces().as_ref()).into_iter().flatten() {
        if let Some(path) = ns.path() {
            if ns.typ() == LinuxNamespaceType::Pid {
                return Err(RuntimeError::Spec("joining an existing pid namespace is not supported".into()));
            }
            let f = std::fs::File::open(path).map_err(|e| RuntimeError::sys(format!("open namespace {}", path.display()), e))?;
            join.push((std::os::fd::IntoRawFd::into_raw_fd(f), ns.typ()));
            continue;
        }
        flags |= match ns.typ() {
            LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
            LinuxNamespaceType::Network => libc::CLONE_NEWNET,
            LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
            LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
            LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
            LinuxNamespaceType::Cgroup => {
                new_cgroupns = true;
                0
            }
            LinuxNamespaceType::User => return Err(RuntimeError::Spec("user namespaces are not supported yet".into())),
            LinuxNamespaceType::Time => return Err(RuntimeError::Spec("time namespaces are not supported yet".into())),
        } as libc::c_long;
    }

    let cgroup = match linux.and_then(|l| l.cgroups_path().as_ref()) {
        Some(p) => {
            let cg = Cgroup::open(p);
            cg.create(linux.and_then(|l| l.resources().as_ref()))?;
            Some(cg)
        }
        None => None,
    };
    let result = spawn_in(opts, flags, new_cgroupns, &join, cgroup.as_ref());
    for (fd, _) in &join {
        close(*fd);
    }
    match result {
        Ok(pid) => Ok(Spawned { pid, cgroup }),
        Err(e) => {
            if let Some(cg) = &cgroup {
                let _ = cg.destroy();
            }
            Err(e)
        }
    }
}

fn spawn_in(opts: &SpawnOptions, flags: libc::c_long, new_cgroupns: bool, join: &[(RawFd, LinuxNamespaceType)], cgroup: Option<&Cgroup>) -> Result<i32> {
    let (sync_r, sync_w) = pipe()?;
    let (err_r, err_w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            close(sync_r);
            close(sync_w);
            return Err(e);
        }
    };
    let ctx = init::InitContext {
        spec: opts.spec,
        rootfs: opts.rootfs.clone(),
        rootfs_mounts: opts.rootfs_mounts,
        stdio: [opts.stdio.stdin, opts.stdio.stdout, opts.stdio.stderr],
        tty: opts.stdio.tty,
        cgroup,
        new_cgroupns,
        join_namespaces: join.to_vec(),
        sync_read: sync_r,
        sync_write: sync_w,
        err_write: err_w,
        seccomp_bpf: opts.seccomp_bpf,
    };
    // A raw clone with no new stack behaves like fork(2) (the child continues on a copy of this
    // stack) while creating the namespaces in the same step; the pid namespace in particular
    // only applies to children, so unshare(2) alone could not make the init pid 1.
    // SAFETY: the caller guarantees a single-threaded process, so the child's copy of the heap
    // and of every lock is consistent.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as libc::c_long, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        close(err_r);
        init::run(&ctx);
    }
    close(sync_r);
    close(err_w);
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        close(sync_w);
        close(err_r);
        return Err(RuntimeError::sys("clone", e));
    }
    let pid = pid as i32;
    let abort = |e: RuntimeError| -> RuntimeError {
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        e
    };
    if let Some(cg) = cgroup {
        if let Err(e) = cg.add(pid) {
            close(sync_w);
            close(err_r);
            return Err(abort(e));
        }
    }
    // SAFETY: write(2) of one byte to our pipe.
    let go = unsafe { libc::write(sync_w, [0u8].as_ptr().cast(), 1) };
    close(sync_w);
    if go != 1 {
        close(err_r);
        return Err(abort(RuntimeError::sys("start container init", std::io::Error::last_os_error())));
    }
    // The error pipe is close-on-exec in the child: EOF without data means the exec succeeded.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // SAFETY: read(2) into a local buffer.
        let n = unsafe { libc::read(err_r, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n > 0 {
            buf.extend_from_slice(&chunk[..n as usize]);
        } else if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    close(err_r);
    if let Some((&code, msg)) = buf.split_first() {
        let kind = match code {
            1 => StartFailure::NotExecutable,
            2 => StartFailure::NotFound,
            _ => StartFailure::Engine,
        };
        // SAFETY: reaping the child that reported failure and exited.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        return Err(RuntimeError::Start { kind, message: String::from_utf8_lossy(msg).into_owned() });
    }
    Ok(pid)
}
