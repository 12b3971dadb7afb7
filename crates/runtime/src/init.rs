//! The container's init, from clone(2) to execve(2). Runs in the freshly cloned child, which has
//! the new namespaces but is still the runtime's code; everything here is on the path of every
//! container start, so it does only what the spec asks.

use crate::cgroups::Cgroup;
use crate::error::StartFailure;
use crate::rootfs::{self, RootfsMount};
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Everything the child needs, prepared by the parent before clone so the child's copy of the
/// address space already holds it.
pub(crate) struct InitContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: PathBuf,
    pub rootfs_mounts: &'a [RootfsMount],
    pub stdio: [Option<RawFd>; 3],
    pub tty: bool,
    /// Our end of the console socket: allocate the terminal inside the container and send its
    /// master side back.
    pub console: Option<RawFd>,
    pub console_size: Option<(u16, u16)>,
    pub cgroup: Option<&'a Cgroup>,
    pub new_cgroupns: bool,
    pub join_namespaces: Vec<(RawFd, LinuxNamespaceType)>,
    pub seccomp_bpf: Option<&'a [u8]>,
    pub sync_read: RawFd,
    pub sync_write: RawFd,
    pub err_write: RawFd,
}

/// A failure inside the init, sent to the parent through the error pipe.
pub(crate) struct Fail {
    pub kind: StartFailure,
    pub message: String,
}

impl<T: std::fmt::Display> From<T> for Fail {
    fn from(e: T) -> Self {
        Fail {
            kind: StartFailure::Engine,
            message: e.to_string(),
        }
    }
}

pub(crate) fn fail(kind: StartFailure, message: String) -> Fail {
    Fail { kind, message }
}

/// Runs the init and never returns: it either execs the container's process or reports and exits.
pub(crate) fn run(ctx: &InitContext) -> ! {
    let err = match steps(ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    report_and_exit(ctx.err_write, err)
}

/// Sends a failure to the parent over the error pipe and exits with Docker's code for it.
pub(crate) fn report_and_exit(err_write: RawFd, err: Fail) -> ! {
    let code: u8 = match err.kind {
        StartFailure::Engine => 0,
        StartFailure::NotExecutable => 1,
        StartFailure::NotFound => 2,
    };
    let mut msg = vec![code];
    msg.extend_from_slice(err.message.as_bytes());
    // SAFETY: plain write(2) and _exit(2) on fds this process owns.
    unsafe {
        libc::write(err_write, msg.as_ptr().cast(), msg.len());
        libc::_exit(err.kind.exit_code());
    }
}

/// Puts every signal back to its default action and unblocks all: execve(2) keeps both, and
/// the container's programs must not inherit what the runtime set.
pub(crate) fn reset_signals() {
    // SAFETY: signal(2)/sigprocmask(2) with valid arguments.
    unsafe {
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

pub(crate) fn check(r: libc::c_int, what: &str) -> Result<(), Fail> {
    if r < 0 {
        Err(fail(
            StartFailure::Engine,
            format!("{what}: {}", std::io::Error::last_os_error()),
        ))
    } else {
        Ok(())
    }
}

fn steps(ctx: &InitContext) -> Result<Infallible, Fail> {
    let spec = ctx.spec;
    let process = spec.process().as_ref().ok_or("spec has no process")?;
    let linux = spec.linux().as_ref();
    // SAFETY: these are raw syscalls on values we own; no Rust invariants are involved.
    unsafe {
        // Non-dumpable until exec: a process in the container cannot open /proc/<pid>/exe of
        // the runtime and overwrite the berth binary (CVE-2019-5736). execve resets it.
        check(
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0),
            "prctl dumpable",
        )?;
        // Our copy of the write end would keep the read in wait_for_go from ever seeing EOF.
        libc::close(ctx.sync_write);
        if ctx.new_cgroupns {
            // The namespace's root is the cgroup we are in when unsharing: our own, so wait
            // until the parent has moved us there.
            wait_for_go(ctx);
            check(
                libc::unshare(libc::CLONE_NEWCGROUP),
                "unshare cgroup namespace",
            )?;
        }
        for (fd, _) in &ctx.join_namespaces {
            check(libc::setns(*fd, 0), "setns")?;
            libc::close(*fd);
        }
        // The shim ignores SIGPIPE, as every Rust program does; the container must not.
        reset_signals();
        check(libc::setsid(), "setsid")?;
        setup_stdio(ctx)?;
        if ctx.tty && ctx.console.is_none() {
            check(
                libc::ioctl(0, libc::TIOCSCTTY, 0),
                "set controlling terminal",
            )?;
        }
    }

    let has_mount_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount));
    if has_mount_ns {
        let prop = linux
            .and_then(|l| l.rootfs_propagation().clone())
            .unwrap_or_else(|| "rprivate".into());
        let (_, p, _) = rootfs::parse_options(&[prop]);
        nix::mount::mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .map_err(|e| format!("make / {p:?}: {e}"))?;
        rootfs::mount_rootfs(&ctx.rootfs, ctx.rootfs_mounts)?;
        rootfs::mount_spec_mounts(&ctx.rootfs, spec, ctx.cgroup)?;
        if let Some(devs) = linux.and_then(|l| l.devices().as_ref()) {
            rootfs::create_devices(&ctx.rootfs, devs)?;
        }
        rootfs::pivot(&ctx.rootfs)?;
        if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
            for (k, v) in sysctl {
                let p = format!("/proc/sys/{}", k.replace('.', "/"));
                std::fs::write(&p, v).map_err(|e| format!("sysctl {k}: {e}"))?;
            }
        }
        if let Some(m) = linux.and_then(|l| l.masked_paths().as_ref()) {
            rootfs::mask_paths(m)?;
        }
        if let Some(r) = linux.and_then(|l| l.readonly_paths().as_ref()) {
            rootfs::readonly_paths(r)?;
        }
        if let Some(sock) = ctx.console {
            setup_console(sock, ctx.console_size)?;
        }
        if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
            rootfs::readonly_root()?;
        }
    } else {
        nix::unistd::chroot(ctx.rootfs.as_path()).map_err(|e| format!("chroot: {e}"))?;
    }
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).map_err(|e| format!("sethostname: {e}"))?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| format!("oom_score_adj: {e}"))?;
    }
    for rl in process.rlimits().iter().flatten() {
        set_rlimit(rl.typ(), rl.soft(), rl.hard())?;
    }
    let user = process.user();
    // SAFETY: umask(2) cannot fail.
    unsafe { libc::umask(user.umask().unwrap_or(0o022) as libc::mode_t) };

    let cwd = process.cwd();
    if std::fs::metadata(cwd).is_err() {
        std::fs::create_dir_all(cwd)
            .map_err(|e| format!("mkdir working directory {}: {e}", cwd.display()))?;
    }
    chdir_inside(cwd)?;

    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or("spec has no process args")?;
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let exe = find_executable(&args[0], &env)?;
    let c_args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let c_env: Vec<CString> = env
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;

    // Moving a process into a v1 cgroup waits for an RCU grace period (~10 ms here); the
    // parent does that while we build the root file system, and we wait only now, before
    // anything that must be confined runs.
    if !ctx.new_cgroupns {
        wait_for_go(ctx);
    }
    let seccomp = linux.and_then(|l| l.seccomp().as_ref());
    let init = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(INIT_ANNOTATION))
        .is_some_and(|v| v == "true");
    Err(confine_and_exec(
        process,
        seccomp,
        ctx.seccomp_bpf,
        &exe,
        &args[0],
        &c_args,
        &c_env,
        init.then_some(ctx.err_write),
    ))
}

/// Changes to the process's working directory and makes sure it lies inside the container's
/// root: a working directory such as `/proc/self/fd/N` naming a descriptor still open from the
/// host would otherwise leave the program in the host's file system (CVE-2024-21626).
pub(crate) fn chdir_inside(cwd: &std::path::Path) -> Result<(), String> {
    nix::unistd::chdir(cwd).map_err(|e| {
        format!(
            "chdir to cwd ({}) set in config.json failed: {e}",
            cwd.display()
        )
    })?;
    // The raw syscall, not libc's wrapper: the kernel answers "(unreachable)/…" for a directory
    // outside the root, which some libc versions pass on as if it were a path.
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: getcwd(2) writes at most buf.len() bytes into our buffer.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n <= 0 || buf[0] != b'/' {
        return Err(format!(
            "working directory {} is outside the container's root file system",
            cwd.display()
        ));
    }
    Ok(())
}

/// Spec annotation asking for berth's init as pid 1 (`--init`).
pub const INIT_ANNOTATION: &str = "berth.init";

/// The last steps of every container process, init or exec'd: seccomp, user and capabilities,
/// no_new_privs, only stdio surviving exec, then execve. Returns only on failure. With
/// `as_init` (the error pipe's write end) the program runs as pid 2 under berth's own init.
#[allow(clippy::too_many_arguments)] // one call site each in init and exec; a struct would only rename them
pub(crate) fn confine_and_exec(
    process: &oci_spec::runtime::Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    bpf: Option<&[u8]>,
    exe: &std::ffi::CStr,
    arg0: &str,
    args: &[CString],
    env: &[CString],
    as_init: Option<RawFd>,
) -> Fail {
    let nnp = process.no_new_privileges() == Some(true);
    let steps = || -> Result<(), Fail> {
        if let (false, Some(sc)) = (nnp, seccomp) {
            // Without no_new_privs the filter can only be loaded while CAP_SYS_ADMIN is still
            // held, so it goes in before the capabilities are dropped.
            load_seccomp(sc, bpf)?;
        }
        crate::caps::apply_user_and_caps(process.user(), process.capabilities().as_ref())?;
        if nnp {
            // SAFETY: prctl with constant arguments.
            check(
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
                "no_new_privs",
            )?;
            if let Some(sc) = seccomp {
                load_seccomp(sc, bpf)?;
            }
        }
        Ok(())
    };
    if let Err(e) = steps() {
        return e;
    }
    // Every inherited descriptor beyond stdio must not reach the container's program.
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    if let Some(err_write) = as_init {
        if let Err(e) = become_init(err_write) {
            return e;
        }
        // Only the child gets here.
    }
    let e = nix::unistd::execve(exe, args, env).unwrap_err();
    let kind = match e {
        nix::errno::Errno::ENOENT => StartFailure::NotFound,
        _ => StartFailure::NotExecutable,
    };
    fail(kind, format!("exec: {arg0:?}: {}", e.desc().to_lowercase()))
}

/// `--init`: forks; the child returns to exec the program, this process stays as pid 1 (as
/// confined as the program) forwarding every signal to it and reaping every orphan, so a
/// program that does neither (a shell, `sleep`) behaves, and `stop` takes milliseconds. Exits
/// with the program's status.
fn become_init(err_write: RawFd) -> Result<(), Fail> {
    // SAFETY: signal mask, fork, waitpid, kill and _exit on our own process and children.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        // Blocked before the fork so no signal meant for the program can slip by.
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        let child = libc::fork();
        if child < 0 {
            return Err(fail(
                StartFailure::Engine,
                format!(
                    "fork the program under init: {}",
                    std::io::Error::last_os_error()
                ),
            ));
        }
        if child == 0 {
            reset_signals();
            return Ok(());
        }
        // Never exec'ing, pid 1 must close by hand what exec would have: the error pipe (the
        // runtime waits for its EOF) and every descriptor the runtime and shim had open.
        let _ = err_write;
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        libc::prctl(libc::PR_SET_NAME, c"berth-init".as_ptr(), 0, 0, 0);
        libc::malloc_trim(0);
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    libc::_exit(code);
                }
            }
        }
    }
}

/// Opens a terminal from the container's own devpts instance, makes it our stdio, controlling
/// terminal and /dev/console, and sends its master side to the parent over the console socket
/// (as runc's console socket does), so `tty` inside says /dev/pts/0.
fn setup_console(sock: RawFd, size: Option<(u16, u16)>) -> Result<(), Fail> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain syscalls on descriptors this function owns.
    unsafe {
        let m = libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        check(m, "open /dev/ptmx")?;
        let master = OwnedFd::from_raw_fd(m);
        check(libc::unlockpt(m), "unlockpt")?;
        let mut name = [0 as libc::c_char; 64];
        if libc::ptsname_r(m, name.as_mut_ptr(), name.len()) != 0 {
            return Err(fail(StartFailure::Engine, "ptsname failed".into()));
        }
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        check(s, "open the terminal's slave side")?;
        let slave = OwnedFd::from_raw_fd(s);
        if let Some((rows, cols)) = size {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            libc::ioctl(s, libc::TIOCSWINSZ, &ws);
        }
        // /dev/console is the terminal too, as in Docker.
        let console = c"/dev/console";
        let f = libc::open(
            console.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o600,
        );
        if f >= 0 {
            libc::close(f);
            libc::mount(
                name.as_ptr(),
                console.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            );
        }
        for i in 0..3 {
            check(libc::dup2(s, i), "dup2 terminal")?;
        }
        check(
            libc::ioctl(0, libc::TIOCSCTTY, 0),
            "set controlling terminal",
        )?;
        drop(slave);
        if let Err(e) = crate::fdpass::send(sock, &[0], Some(master.as_raw_fd())) {
            return Err(fail(StartFailure::Engine, format!("send terminal: {e}")));
        }
        libc::close(sock);
    }
    Ok(())
}

/// Blocks until the parent says the container is in its cgroup; exits if the parent gave up.
fn wait_for_go(ctx: &InitContext) {
    let mut b = [0u8; 1];
    // SAFETY: read(2) into a local buffer, close(2) and _exit(2) of what we own.
    unsafe {
        let n = loop {
            let n = libc::read(ctx.sync_read, b.as_mut_ptr().cast(), 1);
            if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break n;
            }
        };
        if n != 1 {
            libc::_exit(125);
        }
        libc::close(ctx.sync_read);
    }
}

pub(crate) fn load_seccomp(
    sc: &oci_spec::runtime::LinuxSeccomp,
    bpf: Option<&[u8]>,
) -> Result<(), Fail> {
    match bpf {
        Some(p) => crate::seccomp::load_bpf(sc, p)?,
        None => crate::seccomp::apply(sc)?,
    }
    Ok(())
}

fn setup_stdio(ctx: &InitContext) -> Result<(), Fail> {
    // Move the sources out of 0..2 first so one dup2 cannot clobber another's source.
    let mut high = [-1; 3];
    for (i, fd) in ctx.stdio.iter().enumerate() {
        let src = match fd {
            Some(fd) => *fd,
            None => {
                // SAFETY: open(2) of a constant path.
                let fd =
                    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
                check(fd, "open /dev/null")?;
                fd
            }
        };
        // SAFETY: fcntl F_DUPFD_CLOEXEC on an open descriptor.
        high[i] = unsafe { libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 10) };
        check(high[i], "dup stdio")?;
    }
    for (i, fd) in high.iter().enumerate() {
        // SAFETY: dup2(2) onto 0..2; dup2 clears FD_CLOEXEC on the new descriptor.
        check(unsafe { libc::dup2(*fd, i as i32) }, "dup2 stdio")?;
        unsafe { libc::close(*fd) };
    }
    Ok(())
}

pub(crate) fn set_rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Result<(), Fail> {
    let res = match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    };
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit(2) reads the struct we pass.
    if unsafe { libc::setrlimit(res, &lim) } < 0 {
        let e = std::io::Error::last_os_error();
        return Err(fail(
            StartFailure::Engine,
            format!("error setting rlimit type {}: soft {soft} hard {hard}: {e} (raising a hard limit needs CAP_SYS_RESOURCE)", rlimit_name(typ)),
        ));
    }
    Ok(())
}

fn rlimit_name(typ: PosixRlimitType) -> String {
    serde_json::to_value(typ)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Finds `cmd` the way execvp(3) would, inside the container, so the error can name Docker's
/// cause (and its exit code) before anything irreversible happens.
pub(crate) fn find_executable(cmd: &str, env: &[String]) -> Result<CString, Fail> {
    use std::os::unix::fs::PermissionsExt;
    let check_file = |p: &Path| -> Result<bool, Fail> {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Err(fail(
                StartFailure::NotExecutable,
                format!("exec: {cmd:?}: is a directory"),
            )),
            Ok(m) => Ok(m.permissions().mode() & 0o111 != 0),
            Err(_) => Ok(false),
        }
    };
    if cmd.contains('/') {
        let p = Path::new(cmd);
        if std::fs::metadata(p).is_err() {
            return Err(fail(
                StartFailure::NotFound,
                format!("exec: {cmd:?}: stat {cmd}: no such file or directory"),
            ));
        }
        if !check_file(p)? {
            return Err(fail(
                StartFailure::NotExecutable,
                format!("exec: {cmd:?}: permission denied"),
            ));
        }
        return Ok(CString::new(p.as_os_str().as_bytes())?);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(cmd);
        if let Ok(m) = std::fs::metadata(&p) {
            if !m.is_dir() && m.permissions().mode() & 0o111 != 0 {
                return Ok(CString::new(p.as_os_str().as_bytes())?);
            }
        }
    }
    Err(fail(
        StartFailure::NotFound,
        format!("exec: {cmd:?}: executable file not found in $PATH"),
    ))
}
