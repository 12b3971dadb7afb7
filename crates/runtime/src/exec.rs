//! Running one more process in a running container (`exec`): same namespaces, cgroup,
//! seccomp filter, and (unless told otherwise) user, capabilities and environment.
//!
//! The caller forks a helper that joins the container's cgroup and namespaces, and the helper
//! clones the process with CLONE_PARENT, so it is the *caller's* child (the caller waits for it
//! and gets its exit code) while living in the container's pid namespace, which setns(2) only
//! grants to children.

use crate::cgroups::Cgroup;
use crate::error::{Result, RuntimeError, StartFailure};
use crate::init::{
    check, confine_and_exec, fail, find_executable, report_and_exit, reset_signals, set_rlimit,
    Fail,
};
use oci_spec::runtime::{LinuxSeccomp, Process};
use std::ffi::CString;
use std::os::fd::RawFd;

/// What to run and where.
pub struct ExecOptions<'a> {
    /// Host pid of the container's init, whose namespaces are joined.
    pub target_pid: i32,
    /// The process: args, env, cwd, user, capabilities, no_new_privileges, rlimits.
    pub process: &'a Process,
    /// The container's seccomp profile (None: unconfined).
    pub seccomp: Option<&'a LinuxSeccomp>,
    /// That profile compiled (see [`crate::seccomp::compile_bpf`]).
    pub seccomp_bpf: Option<&'a [u8]>,
    /// The container's cgroup.
    pub cgroup: Option<&'a Cgroup>,
    /// Descriptors for fds 0, 1, 2 (None: /dev/null).
    pub stdio: [Option<RawFd>; 3],
    /// A terminal to open inside the container (e.g. `/dev/pts/3`) as stdio and controlling
    /// terminal, instead of `stdio`.
    pub tty_path: Option<String>,
}

fn pipe() -> Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(RuntimeError::sys("pipe", std::io::Error::last_os_error()));
    }
    Ok((fds[0], fds[1]))
}

fn read_all(fd: RawFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: read(2) into a local buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            out.extend_from_slice(&buf[..n as usize]);
        } else if n == 0
            || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            return out;
        }
    }
}

/// Starts the process; returns its host pid once it has exec'd (it is the caller's child), or
/// the reason it could not, with Docker's exit-code kind. The caller should be single-threaded
/// or at least hold no locks the child might need (fork).
pub fn exec(o: &ExecOptions) -> Result<i32> {
    // Namespaces to join, opened before any of them is entered.
    let mut ns = Vec::new();
    for name in ["ipc", "uts", "net", "pid", "cgroup", "mnt"] {
        let path = format!("/proc/{}/ns/{name}", o.target_pid);
        match std::fs::File::open(&path) {
            Ok(f) => ns.push(f),
            Err(e) => return Err(RuntimeError::sys(format!("open {path}"), e)),
        }
    }
    let own_ns = |name: &str| std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
    let target_ns =
        |name: &str| std::fs::read_link(format!("/proc/{}/ns/{name}", o.target_pid)).ok();
    // setns into the namespace we are already in fails for some types; skip those.
    let ns: Vec<(std::fs::File, bool)> = ["ipc", "uts", "net", "pid", "cgroup", "mnt"]
        .iter()
        .zip(ns)
        .map(|(n, f)| (f, own_ns(n) != target_ns(n)))
        .collect();
    let procs: Vec<std::path::PathBuf> = o
        .cgroup
        .map(|c| c.dirs().map(|d| d.join("cgroup.procs")).collect())
        .unwrap_or_default();
    let args = o
        .process
        .args()
        .clone()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| RuntimeError::Spec("exec needs a command".into()))?;
    let (pid_r, pid_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: the child only makes system calls and small allocations before exec or _exit.
    let helper = unsafe { libc::fork() };
    if helper < 0 {
        return Err(RuntimeError::sys("fork", std::io::Error::last_os_error()));
    }
    if helper == 0 {
        // SAFETY: the helper's work, see the module doc.
        unsafe {
            libc::close(pid_r);
            libc::close(err_r);
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            for p in &procs {
                if let Err(e) = std::fs::write(p, "0") {
                    report_and_exit(
                        err_w,
                        fail(
                            StartFailure::Engine,
                            format!("join cgroup {}: {e}", p.display()),
                        ),
                    );
                }
            }
            for (f, join) in &ns {
                if *join && libc::setns(std::os::fd::AsRawFd::as_raw_fd(f), 0) < 0 {
                    report_and_exit(
                        err_w,
                        fail(
                            StartFailure::Engine,
                            format!("setns: {}", std::io::Error::last_os_error()),
                        ),
                    );
                }
            }
            let child = libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_long,
                0usize,
                0usize,
                0usize,
                0usize,
            );
            if child == 0 {
                libc::close(pid_w);
                let e = match process_steps(o, &args) {
                    Ok(never) => match never {},
                    Err(e) => e,
                };
                report_and_exit(err_w, e);
            }
            if child < 0 {
                report_and_exit(
                    err_w,
                    fail(
                        StartFailure::Engine,
                        format!("clone: {}", std::io::Error::last_os_error()),
                    ),
                );
            }
            let bytes = (child as i32).to_ne_bytes();
            libc::write(pid_w, bytes.as_ptr().cast(), 4);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copies of the child's ends, reaping the helper.
    unsafe {
        libc::close(pid_w);
        libc::close(err_w);
    }
    let pid_bytes = read_all(pid_r);
    let err = read_all(err_r);
    // SAFETY: as above.
    unsafe {
        libc::close(pid_r);
        libc::close(err_r);
        libc::waitpid(helper, std::ptr::null_mut(), 0);
    }
    let pid = (pid_bytes.len() == 4)
        .then(|| i32::from_ne_bytes([pid_bytes[0], pid_bytes[1], pid_bytes[2], pid_bytes[3]]));
    if let Some((&code, msg)) = err.split_first() {
        if let Some(p) = pid {
            // SAFETY: reaping our (CLONE_PARENT) child that failed before exec.
            unsafe { libc::waitpid(p, std::ptr::null_mut(), 0) };
        }
        let kind = match code {
            1 => StartFailure::NotExecutable,
            2 => StartFailure::NotFound,
            _ => StartFailure::Engine,
        };
        return Err(RuntimeError::Start {
            kind,
            message: String::from_utf8_lossy(msg).into_owned(),
        });
    }
    pid.ok_or_else(|| {
        RuntimeError::sys(
            "exec",
            std::io::Error::other("the helper died before starting the process"),
        )
    })
}

/// In the new process, now inside the container's namespaces: stdio, user, capabilities,
/// seccomp, exec.
fn process_steps(
    o: &ExecOptions,
    args: &[String],
) -> std::result::Result<std::convert::Infallible, Fail> {
    reset_signals();
    // SAFETY: setsid/open/dup2/ioctl on descriptors we own.
    unsafe {
        check(libc::setsid(), "setsid")?;
        match &o.tty_path {
            Some(p) => {
                let c = CString::new(p.as_bytes())?;
                let fd = libc::open(c.as_ptr(), libc::O_RDWR);
                check(fd, &format!("open {p}"))?;
                for i in 0..3 {
                    check(libc::dup2(fd, i), "dup2 terminal")?;
                }
                if fd > 2 {
                    libc::close(fd);
                }
                check(
                    libc::ioctl(0, libc::TIOCSCTTY, 0),
                    "set controlling terminal",
                )?;
            }
            None => {
                let mut high = [-1; 3];
                for (i, fd) in o.stdio.iter().enumerate() {
                    let src = match fd {
                        Some(fd) => *fd,
                        None => libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC),
                    };
                    high[i] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 10);
                    check(high[i], "dup stdio")?;
                }
                for (i, fd) in high.iter().enumerate() {
                    check(libc::dup2(*fd, i as i32), "dup2 stdio")?;
                    libc::close(*fd);
                }
            }
        }
    }
    for rl in o.process.rlimits().iter().flatten() {
        set_rlimit(rl.typ(), rl.soft(), rl.hard())?;
    }
    let user = o.process.user();
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(user.umask().unwrap_or(0o022) as libc::mode_t) };
    let cwd = o.process.cwd();
    crate::init::chdir_inside(cwd)?;
    let env: Vec<String> = o.process.env().clone().unwrap_or_default();
    let exe = find_executable(&args[0], &env)?;
    let c_args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()?;
    let c_env: Vec<CString> = env
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()?;
    Err(confine_and_exec(
        o.process,
        o.seccomp,
        o.seccomp_bpf,
        &exe,
        &args[0],
        &c_args,
        &c_env,
        None,
    ))
}
