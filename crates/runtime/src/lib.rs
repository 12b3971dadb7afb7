//! berth's OCI runtime: turns an OCI runtime spec into a running, isolated process.
//!
//! Synchronous and small on purpose: this code runs in every container start and inside the
//! shim, which must stay lean. [`spawn`] clones the container's init with the spec's namespaces,
//! puts it into its cgroup, lets it build the root file system (`rootfs`), drop to the spec's
//! user and capabilities, load seccomp, and exec the process; it returns once the exec happened
//! or with the init's error and Docker's exit code for it.

pub mod caps;
pub mod cgroups;
pub mod devices;
pub mod error;
pub mod exec;
pub mod fdpass;
mod init;
pub mod rootfs;
pub mod seccomp;

pub use cgroups::{Cgroup, Version as CgroupVersion};
pub use error::{Result, RuntimeError, StartFailure};
pub use rootfs::RootfsMount;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
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
    /// The container gets a terminal: with no descriptors given, one is allocated inside the
    /// container (its own devpts) and its master side is returned in [`Spawned::console`];
    /// otherwise stdin is a terminal's slave side that becomes the controlling terminal.
    pub tty: bool,
    /// Initial terminal size (rows, columns).
    pub console_size: Option<(u16, u16)>,
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
    /// Where the cgroup file system is and its layout; `None` means the host's
    /// `/sys/fs/cgroup` (tests point this elsewhere, e.g. at a v2 mount on a v1 host).
    pub cgroup_fs: Option<(&'a Path, CgroupVersion)>,
    /// Make the container a child of the caller's parent (CLONE_PARENT), so a short-lived
    /// helper can start it for a long-lived supervisor, which then reaps it.
    pub clone_parent: bool,
}

/// A started container process.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid on the host.
    pub pid: i32,
    /// Its cgroup, when the spec named one.
    pub cgroup: Option<Cgroup>,
    /// The master side of the terminal allocated inside the container.
    pub console: Option<OwnedFd>,
}

/// The spec annotation that asks for berth's init as the container's pid 1 (`--init`).
pub fn init_annotation() -> &'static str {
    init::INIT_ANNOTATION
}

/// Reads an OCI bundle's `config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path)
        .map_err(|e| RuntimeError::sys(format!("read {}", path.display()), e))?;
    serde_json::from_slice(&data)
        .map_err(|e| RuntimeError::Spec(format!("{}: {e}", path.display())))
}

/// clone3(2) flag: start the child in the cgroup2 directory given by `cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Default)]
struct Clone3Args {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
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
    for ns in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(path) = ns.path() {
            if ns.typ() == LinuxNamespaceType::Pid {
                // A pid namespace applies to children only: enter it here, before the clone.
                // The caller is a single-use process (the shim's starter).
                let f = std::fs::File::open(path).map_err(|e| {
                    RuntimeError::sys(format!("open namespace {}", path.display()), e)
                })?;
                // SAFETY: setns(2) on a namespace descriptor we hold.
                if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWPID) }
                    < 0
                {
                    return Err(RuntimeError::sys(
                        "join pid namespace",
                        std::io::Error::last_os_error(),
                    ));
                }
                continue;
            }
            let f = std::fs::File::open(path)
                .map_err(|e| RuntimeError::sys(format!("open namespace {}", path.display()), e))?;
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
            LinuxNamespaceType::User => {
                return Err(RuntimeError::Spec(
                    "user namespaces are not supported yet".into(),
                ))
            }
            LinuxNamespaceType::Time => {
                return Err(RuntimeError::Spec(
                    "time namespaces are not supported yet".into(),
                ))
            }
        } as libc::c_long;
    }

    let cgroup = match linux.and_then(|l| l.cgroups_path().as_ref()) {
        Some(p) => {
            let cg = match opts.cgroup_fs {
                Some((root, v)) => Cgroup::open_at(root, v, p),
                None => Cgroup::open(p),
            };
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
        Ok((pid, console)) => Ok(Spawned {
            pid,
            cgroup,
            console,
        }),
        Err(e) => {
            if let Some(cg) = &cgroup {
                let _ = cg.destroy();
            }
            Err(e)
        }
    }
}

fn spawn_in(
    opts: &SpawnOptions,
    flags: libc::c_long,
    new_cgroupns: bool,
    join: &[(RawFd, LinuxNamespaceType)],
    cgroup: Option<&Cgroup>,
) -> Result<(i32, Option<OwnedFd>)> {
    let console_pair =
        if opts.stdio.tty && opts.stdio.stdin.is_none() && opts.stdio.stdout.is_none() {
            let mut sv = [0; 2];
            // SAFETY: socketpair fills the array.
            if unsafe {
                libc::socketpair(
                    libc::AF_UNIX,
                    libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                    0,
                    sv.as_mut_ptr(),
                )
            } < 0
            {
                return Err(RuntimeError::sys(
                    "console socketpair",
                    std::io::Error::last_os_error(),
                ));
            }
            // SAFETY: fresh descriptors we own.
            Some(unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) })
        } else {
            None
        };
    let (sync_r, sync_w) = pipe()?;
    let (err_r, err_w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            close(sync_r);
            close(sync_w);
            return Err(e);
        }
    };
    let born = matches!(cgroup, Some(cg) if cg.version() == cgroups::Version::V2);
    let ctx = init::InitContext {
        spec: opts.spec,
        rootfs: opts.rootfs.clone(),
        rootfs_mounts: opts.rootfs_mounts,
        stdio: [opts.stdio.stdin, opts.stdio.stdout, opts.stdio.stderr],
        tty: opts.stdio.tty,
        console: console_pair
            .as_ref()
            .map(|(_, c)| std::os::fd::AsRawFd::as_raw_fd(c)),
        console_size: opts.stdio.console_size,
        cgroup,
        // Born in its cgroup, the child got its cgroup namespace from clone3 already.
        new_cgroupns: new_cgroupns && !born,
        join_namespaces: join.to_vec(),
        sync_read: sync_r,
        sync_write: sync_w,
        err_write: err_w,
        seccomp_bpf: opts.seccomp_bpf,
    };
    // On cgroup v2 the child is born in its cgroup (clone3 CLONE_INTO_CGROUP), which skips the
    // costly migration; the cgroup namespace then comes with the clone too.
    let into = match cgroup {
        Some(cg) if cg.version() == cgroups::Version::V2 => {
            cg.dirs().next().and_then(|d| std::fs::File::open(d).ok())
        }
        _ => None,
    };
    let born_in_cgroup = into.is_some();
    // With CLONE_PARENT the waitpid calls below find no child (ECHILD): the real parent reaps.
    let parent_flag: libc::c_long = if opts.clone_parent {
        libc::CLONE_PARENT as libc::c_long
    } else {
        0
    };
    // A clone with no new stack behaves like fork(2) (the child continues on a copy of this
    // stack) while creating the namespaces in the same step; the pid namespace in particular
    // only applies to children, so unshare(2) alone could not make the init pid 1.
    // SAFETY: the caller guarantees a single-threaded process, so the child's copy of the heap
    // and of every lock is consistent.
    let pid = unsafe {
        match &into {
            Some(f) => {
                let mut args = Clone3Args {
                    flags: flags as u64 | parent_flag as u64 | CLONE_INTO_CGROUP,
                    exit_signal: libc::SIGCHLD as u64,
                    cgroup: std::os::fd::AsRawFd::as_raw_fd(f) as u64,
                    ..Default::default()
                };
                if new_cgroupns {
                    args.flags |= libc::CLONE_NEWCGROUP as u64;
                }
                libc::syscall(
                    libc::SYS_clone3,
                    &mut args as *mut Clone3Args,
                    std::mem::size_of::<Clone3Args>(),
                )
            }
            None => libc::syscall(
                libc::SYS_clone,
                flags | parent_flag | libc::SIGCHLD as libc::c_long,
                0usize,
                0usize,
                0usize,
                0usize,
            ),
        }
    };
    if pid == 0 {
        close(err_r);
        // The cgroup directory's descriptor is the parent's: a working directory of
        // /proc/self/fd/N must find nothing of the host open here (CVE-2024-21626).
        drop(into);
        init::run(&ctx);
    }
    close(sync_r);
    close(err_w);
    let console_sock = console_pair.map(|(mine, _theirs)| mine);
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        close(sync_w);
        close(err_r);
        return Err(RuntimeError::sys("clone", e));
    }
    let pid = pid as i32;
    let added = match cgroup {
        Some(cg) if !born_in_cgroup => cg.add(pid),
        _ => Ok(()),
    };
    // The child may already have failed and gone; then its report below says why, and this
    // write only meets a closed pipe (EPIPE: Rust programs ignore SIGPIPE).
    // SAFETY: write(2) of one byte to our pipe.
    let go = if added.is_ok() {
        unsafe { libc::write(sync_w, [0u8].as_ptr().cast(), 1) }
    } else {
        -1
    };
    let go_err = std::io::Error::last_os_error();
    close(sync_w);
    // The error pipe is close-on-exec in the child: EOF without data means the exec succeeded.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // SAFETY: read(2) into a local buffer.
        let n = unsafe { libc::read(err_r, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n > 0 {
            buf.extend_from_slice(&chunk[..n as usize]);
        } else if n == 0
            || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
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
        return Err(RuntimeError::Start {
            kind,
            message: String::from_utf8_lossy(msg).into_owned(),
        });
    }
    let failed = match added {
        Err(e) => Some(e),
        Ok(()) if go != 1 => Some(RuntimeError::sys("start container init", go_err)),
        Ok(()) => None,
    };
    if let Some(e) = failed {
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(e);
    }
    let console = console_sock
        .as_ref()
        .and_then(|s| fdpass::recv(std::os::fd::AsRawFd::as_raw_fd(s), false).ok())
        .and_then(|(_, fd)| fd);
    if console_sock.is_some() && console.is_none() {
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(RuntimeError::sys(
            "receive the container's terminal",
            std::io::Error::other("nothing was sent"),
        ));
    }
    Ok((pid, console))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str], cgroups_path: &str) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "/"},
            "process": {"user": {"uid": 0, "gid": 0}, "args": args, "env": ["PATH=/bin:/usr/bin"], "cwd": "/"},
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "cgroup"}],
                "cgroupsPath": cgroups_path,
                "resources": {"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]},
            },
        }))
        .unwrap()
    }

    fn wait(pid: i32) -> i32 {
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        libc::WEXITSTATUS(status)
    }

    /// On a v2 hierarchy the child is born in its cgroup (clone3 CLONE_INTO_CGROUP) and its
    /// cgroup namespace is rooted there. Runs against the host's v2 mount: /sys/fs/cgroup on a
    /// v2 host, /sys/fs/cgroup/unified on a hybrid one.
    #[test]
    fn v2_child_is_born_in_its_cgroup() {
        assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
        let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|p| CgroupVersion::detect_at(p) == CgroupVersion::V2)
            .expect("no cgroup v2 mount on this host");
        let rel = format!("berth-rt-test-{}", std::process::id());
        let out = std::env::temp_dir().join(format!("berth-rt-test-{}.out", std::process::id()));
        // /dev/null is allowed by the device program; /dev/zero (1:5) is not.
        let script = format!("cat /proc/self/cgroup > {o}; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied >> {o}", o = out.display());
        let sp = spec(&["/bin/sh", "-c", &script], &rel);
        let opts = SpawnOptions {
            spec: &sp,
            rootfs: "/".into(),
            rootfs_mounts: &[],
            stdio: Stdio::default(),
            seccomp_bpf: None,
            cgroup_fs: Some((root, CgroupVersion::V2)),
            clone_parent: false,
        };
        let spawned = spawn(&opts).expect("spawn");
        let cg = spawned.cgroup.expect("a cgroup");
        assert!(cg.dirs().next().unwrap().starts_with(root));
        assert_eq!(wait(spawned.pid), 0);
        cg.destroy().unwrap();
        let seen = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        // In its own cgroup namespace the process sees itself at the namespace root.
        assert!(seen.lines().any(|l| l == "0::/"), "{seen}");
        assert!(
            seen.contains("zero-denied"),
            "the v2 device program is attached: {seen}"
        );
        assert!(!root.join(&rel).exists(), "cgroup removed");
    }

    /// A command that does not exist is reported with Docker's 127 and nothing is left behind.
    #[test]
    fn missing_command_reports_not_found() {
        assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
        let sp = spec(&["/no/such/binary"], "");
        let mut sp = sp;
        if let Some(l) = sp.linux_mut() {
            l.set_cgroups_path(None);
            l.set_namespaces(Some(vec![]));
        }
        let opts = SpawnOptions {
            spec: &sp,
            rootfs: "/".into(),
            rootfs_mounts: &[],
            stdio: Stdio::default(),
            seccomp_bpf: None,
            cgroup_fs: None,
            clone_parent: false,
        };
        match spawn(&opts) {
            Err(RuntimeError::Start { kind, message }) => {
                assert_eq!(kind, StartFailure::NotFound);
                assert!(message.contains("no such file or directory"), "{message}");
            }
            other => panic!("expected a start failure, got {other:?}"),
        }
    }
}
