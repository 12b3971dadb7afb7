//! Compiles an OCI seccomp profile with libseccomp and installs it in the current process.
//!
//! Semantics follow runc so that profiles written for Docker/runc (Docker's default one
//! above all) behave identically: unknown syscall names are skipped, rules equal to the
//! default action are dropped, and repeated conditions on one argument become OR-ed rules.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

/// Errors from building or loading a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile uses an action this runtime cannot honour.
    #[error("unsupported seccomp action {0}")]
    UnsupportedAction(LinuxSeccompAction),
    /// An errno/trace value does not fit the 16 bits the kernel reserves for it.
    #[error("seccomp return value {value} for {action} is out of range")]
    ReturnValueRange {
        /// Action carrying the value.
        action: LinuxSeccompAction,
        /// Offending value.
        value: u32,
    },
    /// A syscall entry has an empty name.
    #[error("empty syscall name in seccomp profile")]
    EmptyName,
    /// A condition names an argument a syscall cannot have.
    #[error("seccomp argument index {index} for {name} is out of range (max 5)")]
    ArgIndex {
        /// Syscall the condition belongs to.
        name: String,
        /// Offending index.
        index: usize,
    },
    /// libseccomp could not allocate a filter.
    #[error("creating seccomp filter: {0}")]
    Create(#[source] libseccomp::error::SeccompError),
    /// libseccomp refused a filter attribute or flag.
    #[error("setting seccomp filter attribute {what}: {source}")]
    Attribute {
        /// Attribute or flag being set.
        what: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// libseccomp refused a rule.
    #[error("adding seccomp rule for {name}: {source}")]
    AddRule {
        /// Syscall of the rule.
        name: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The kernel refused the compiled filter.
    #[error("loading seccomp filter: {0}")]
    Load(#[source] libseccomp::error::SeccompError),
    /// Exporting or loading a compiled BPF program failed.
    #[error("seccomp BPF program: {0}")]
    Export(#[source] std::io::Error),
}

/// Compiles `seccomp` and loads it into the calling thread's process (must run in the container's init just before exec).
pub fn apply(seccomp: &LinuxSeccomp) -> Result<(), SeccompError> {
    compile(seccomp)?.load().map_err(SeccompError::Load)
}

/// Compiles `seccomp` into the BPF program the kernel runs. libseccomp takes ~10 ms for
/// Docker's profile, most of a container start, so the engine compiles once per distinct profile
/// and hands the program to [`load_bpf`].
pub fn compile_bpf(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    let ctx = compile(seccomp)?;
    // libseccomp 2.5 exports only to a descriptor; a memfd keeps it off the file system.
    // SAFETY: memfd_create with a constant name.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(SeccompError::Export(std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    ctx.export_bpf(&mut file)
        .map_err(|e| SeccompError::Export(std::io::Error::other(e.to_string())))?;
    use std::io::{Read, Seek};
    let mut out = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut out))
        .map_err(SeccompError::Export)?;
    Ok(out)
}

/// Loads a program made by [`compile_bpf`] for `seccomp` (whose flags it honours).
pub fn load_bpf(seccomp: &LinuxSeccomp, bpf: &[u8]) -> Result<(), SeccompError> {
    let mut flags: libc::c_ulong = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    if bpf.is_empty() || !bpf.len().is_multiple_of(8) || bpf.len() / 8 > u16::MAX as usize {
        return Err(SeccompError::Export(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a BPF program",
        )));
    }
    // Copied so the instructions are aligned whatever the caller's buffer is.
    let prog: Vec<libc::sock_filter> = bpf
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads the program we own for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(SeccompError::Export(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Highest syscall argument index; seccomp sees six register arguments.
const MAX_ARG_INDEX: usize = 5;

fn compile(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default_action = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(SeccompError::Create)?;

    // The runtime loads the filter while it still holds CAP_SYS_ADMIN and sets
    // no_new_privs itself only when the spec asks for it; letting libseccomp set it
    // would break setuid binaries in every container.
    ctx.set_ctl_nnp(false)
        .map_err(|source| attr_err("no_new_privs", source))?;

    for arch in seccomp.architectures().iter().flatten() {
        if let Some(arch) = scmp_arch(*arch) {
            // A foreign arch this libseccomp cannot target only means binaries of
            // that arch cannot run here anyway, so it is no reason to fail.
            let _ = ctx.add_arch(arch);
        }
    }

    for flag in seccomp.flags().iter().flatten() {
        let set = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true).map(drop),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true).map(drop),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true).map(drop),
            // Only meaningful for SCMP_ACT_NOTIFY listeners, which are rejected below.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => Ok(()),
        };
        set.map_err(|source| attr_err(&flag.to_string(), source))?;
    }

    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    // A binary tree keeps the cost of every syscall in the container logarithmic in the
    // profile's size; its extra compile time is paid once, the program being cached. Older
    // libseccomp lacks the attribute; the linear layout is merely slower.
    let _ = ctx.set_ctl_optimize(2);

    for call in syscalls {
        add_syscall(&mut ctx, call, default_action)?;
    }
    Ok(ctx)
}

fn add_syscall(
    ctx: &mut ScmpFilterContext,
    call: &LinuxSyscall,
    default_action: ScmpAction,
) -> Result<(), SeccompError> {
    let act = action(call.action(), call.errno_ret())?;
    // libseccomp rejects rules that repeat the default action; they are no-ops anyway.
    if act == default_action {
        return Ok(());
    }
    let args: &[LinuxSeccompArg] = call.args().as_deref().unwrap_or_default();

    for name in call.names() {
        if name.is_empty() {
            return Err(SeccompError::EmptyName);
        }
        // Profiles list syscalls newer than the installed libseccomp (or absent on
        // this arch); like runc, treat those as "cannot be called here".
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let conds = args
            .iter()
            .map(|arg| condition(name, arg))
            .collect::<Result<Vec<_>, _>>()?;
        let add_err = |source| SeccompError::AddRule {
            name: name.clone(),
            source,
        };

        // libseccomp allows one comparison per argument and ANDs the rest. A
        // profile repeating an argument means "any of these values", so, as runc
        // does, every condition then becomes a rule of its own.
        if has_repeated_index(args) {
            for cond in &conds {
                ctx.add_rule_conditional(act, syscall, std::slice::from_ref(cond))
                    .map_err(add_err)?;
            }
        } else {
            ctx.add_rule_conditional(act, syscall, &conds)
                .map_err(add_err)?;
        }
    }
    Ok(())
}

fn has_repeated_index(args: &[LinuxSeccompArg]) -> bool {
    args.iter()
        .enumerate()
        .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()))
}

fn condition(name: &str, arg: &LinuxSeccompArg) -> Result<ScmpArgCompare, SeccompError> {
    if arg.index() > MAX_ARG_INDEX {
        return Err(SeccompError::ArgIndex {
            name: name.to_string(),
            index: arg.index(),
        });
    }
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // OCI puts the mask in `value` and the expected result in `valueTwo`.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    // The index was bounds-checked above, so it fits.
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

fn action(act: LinuxSeccompAction, ret: Option<u32>) -> Result<ScmpAction, SeccompError> {
    // The OCI spec makes EPERM the errno when a profile leaves it out.
    let data = || {
        let value = ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(value).map_err(|_| SeccompError::ReturnValueRange { action: act, value })
    };
    Ok(match act {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(data()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        // Plain KILL predates KILL_PROCESS and has always meant the thread.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        // A notify filter is useless without handing its fd to an agent, which
        // berth does not implement; loading it would hang the caller forever.
        LinuxSeccompAction::ScmpActNotify => return Err(SeccompError::UnsupportedAction(act)),
    })
}

fn scmp_arch(arch: Arch) -> Option<ScmpArch> {
    Some(match arch {
        // Always present in a fresh filter.
        Arch::ScmpArchNative => return None,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    })
}

fn attr_err(what: &str, source: libseccomp::error::SeccompError) -> SeccompError {
    SeccompError::Attribute {
        what: what.to_string(),
        source,
    }
}

// The engine crate depends on this one, so its profile generator is pulled in by
// path to check that Docker's profile compiles and behaves under this loader.
#[cfg(test)]
#[path = "../../engine/src/container/seccomp_profile.rs"]
mod docker_profile;

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use oci_spec::runtime::LinuxSeccompBuilder;

    /// Runs `body` in a forked child so only the child is ever filtered; the
    /// child reports through its exit status.
    fn in_child(body: impl FnOnce() -> i32) -> WaitStatus {
        // SAFETY: the child only runs `body` (async-signal-unsafe work limited to
        // malloc, which glibc keeps usable across fork) and leaves with _exit, never
        // returning into the test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(99);
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
        }
    }

    fn exit_code(status: WaitStatus) -> i32 {
        match status {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child did not exit normally: {other:?}"),
        }
    }

    /// Loading without no_new_privs needs CAP_SYS_ADMIN; unprivileged test runs
    /// opt into no_new_privs instead.
    fn prepare_child() {
        if unsafe { libc::geteuid() } != 0 {
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        }
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn rule(
        names: &[&str],
        action: LinuxSeccompAction,
        errno_ret: Option<u32>,
        args: Vec<LinuxSeccompArg>,
    ) -> LinuxSyscall {
        let mut call = LinuxSyscall::default();
        call.set_names(names.iter().map(|n| (*n).to_string()).collect());
        call.set_action(action);
        call.set_errno_ret(errno_ret);
        call.set_args((!args.is_empty()).then_some(args));
        call
    }

    fn arg(index: usize, op: LinuxSeccompOperator, value: u64) -> LinuxSeccompArg {
        oci_spec::runtime::LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value)
            .build()
            .unwrap()
    }

    fn allow_by_default(syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(syscalls)
            .build()
            .unwrap()
    }

    #[test]
    fn errno_rules_in_child() {
        let profile = allow_by_default(vec![
            rule(
                &["getcwd"],
                LinuxSeccompAction::ScmpActErrno,
                Some(libc::EXDEV as u32),
                vec![],
            ),
            // No errnoRet: EPERM. "mkdir" does not exist on aarch64 and the bogus
            // name exists nowhere; both must be skipped, not fail the load.
            rule(
                &["mkdir", "mkdirat", "no_such_syscall_berth"],
                LinuxSeccompAction::ScmpActErrno,
                None,
                vec![],
            ),
        ]);
        let status = in_child(|| {
            prepare_child();
            if apply(&profile).is_err() {
                return 1;
            }
            let mut buf = [0u8; 256];
            let r = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
            if !r.is_null() || errno() != libc::EXDEV {
                return 2;
            }
            let r = unsafe { libc::mkdir(c"/tmp/berth-seccomp-test-never".as_ptr(), 0o700) };
            if r != -1 || errno() != libc::EPERM {
                return 3;
            }
            if unsafe { libc::getpid() } <= 0 {
                return 4;
            }
            0
        });
        assert_eq!(exit_code(status), 0);
    }

    #[test]
    fn repeated_argument_becomes_or() {
        // getpgid(1111) or getpgid(2222) fail; any other pid is untouched. Passed to
        // libseccomp as one rule this would be rejected (same argument twice).
        let profile = allow_by_default(vec![
            rule(
                &["getpgid"],
                LinuxSeccompAction::ScmpActErrno,
                Some(libc::EXDEV as u32),
                vec![
                    arg(0, LinuxSeccompOperator::ScmpCmpEq, 1111),
                    arg(0, LinuxSeccompOperator::ScmpCmpEq, 2222),
                ],
            ),
            // Different arguments stay ANDed: only PRIO_PROCESS for pid 4242.
            rule(
                &["getpriority"],
                LinuxSeccompAction::ScmpActErrno,
                Some(libc::EXDEV as u32),
                vec![
                    arg(
                        0,
                        LinuxSeccompOperator::ScmpCmpEq,
                        libc::PRIO_PROCESS as u64,
                    ),
                    arg(1, LinuxSeccompOperator::ScmpCmpEq, 4242),
                ],
            ),
        ]);
        let status = in_child(|| {
            prepare_child();
            if apply(&profile).is_err() {
                return 1;
            }
            for pid in [1111, 2222] {
                if unsafe { libc::getpgid(pid) } != -1 || errno() != libc::EXDEV {
                    return 2;
                }
            }
            if unsafe { libc::getpgid(0) } <= 0 {
                return 3;
            }
            nix::errno::Errno::clear();
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            if errno() != 0 {
                return 4;
            }
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 4242) };
            if errno() != libc::EXDEV {
                return 5;
            }
            0
        });
        assert_eq!(exit_code(status), 0);
    }

    #[test]
    fn kill_process_action() {
        let profile = allow_by_default(vec![rule(
            &["getppid"],
            LinuxSeccompAction::ScmpActKillProcess,
            None,
            vec![],
        )]);
        let status = in_child(|| {
            prepare_child();
            if apply(&profile).is_err() {
                return 1;
            }
            unsafe { libc::getppid() };
            2
        });
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
            "{status:?}"
        );
    }

    #[test]
    fn does_not_set_no_new_privs() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let profile = allow_by_default(vec![rule(
            &["getcwd"],
            LinuxSeccompAction::ScmpActErrno,
            None,
            vec![],
        )]);
        let status = in_child(|| {
            if apply(&profile).is_err() {
                return 1;
            }
            if unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } != 0 {
                return 2;
            }
            0
        });
        assert_eq!(exit_code(status), 0);
    }

    #[test]
    fn rejects_bad_profiles() {
        let notify = allow_by_default(vec![rule(
            &["getcwd"],
            LinuxSeccompAction::ScmpActNotify,
            None,
            vec![],
        )]);
        assert!(matches!(
            compile(&notify),
            Err(SeccompError::UnsupportedAction(_))
        ));
        let big = allow_by_default(vec![rule(
            &["getcwd"],
            LinuxSeccompAction::ScmpActErrno,
            Some(70_000),
            vec![],
        )]);
        assert!(matches!(
            compile(&big),
            Err(SeccompError::ReturnValueRange { .. })
        ));
        let index = allow_by_default(vec![rule(
            &["getcwd"],
            LinuxSeccompAction::ScmpActErrno,
            None,
            vec![arg(6, LinuxSeccompOperator::ScmpCmpEq, 0)],
        )]);
        assert!(matches!(
            compile(&index),
            Err(SeccompError::ArgIndex { index: 6, .. })
        ));
        let empty = allow_by_default(vec![rule(
            &[""],
            LinuxSeccompAction::ScmpActErrno,
            None,
            vec![],
        )]);
        assert!(matches!(compile(&empty), Err(SeccompError::EmptyName)));
    }

    #[test]
    fn flags_and_foreign_arches_accepted() {
        let mut profile = allow_by_default(vec![rule(
            &["getcwd"],
            LinuxSeccompAction::ScmpActLog,
            None,
            vec![],
        )]);
        profile.set_architectures(Some(vec![
            Arch::ScmpArchNative,
            Arch::ScmpArchX86_64,
            Arch::ScmpArchAarch64,
            Arch::ScmpArchRiscv64,
        ]));
        profile.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagLog,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        ]));
        let ctx = compile(&profile).expect("compile");
        assert!(!ctx.get_ctl_nnp().unwrap());
        assert!(ctx.get_ctl_log().unwrap());
    }

    fn docker_caps(extra: &[&str]) -> Vec<String> {
        [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE",
        ]
        .iter()
        .chain(extra)
        .map(|c| (*c).to_string())
        .collect()
    }

    fn try_mount() -> i32 {
        let r = unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/nonexistent-berth-seccomp".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r == 0 {
            0
        } else {
            errno()
        }
    }

    #[test]
    fn docker_default_profile_in_child() {
        let profile = docker_profile::default_profile(&docker_caps(&[]));
        let status = in_child(|| {
            prepare_child();
            if apply(&profile).is_err() {
                return 1;
            }
            let pid = unsafe { libc::getpid() };
            if pid <= 0 || unsafe { libc::syscall(libc::SYS_getpid) } as i64 != i64::from(pid) {
                return 2;
            }
            if try_mount() != libc::EPERM {
                return 3;
            }
            if unsafe { libc::unshare(libc::CLONE_NEWNS) } != -1 || errno() != libc::EPERM {
                return 4;
            }
            // clone3 must look absent so libc falls back to clone.
            let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
            if r != -1 || errno() != libc::ENOSYS {
                return 5;
            }
            // Plain fork goes through clone without namespace flags.
            let child = unsafe { libc::fork() };
            if child == 0 {
                unsafe { libc::_exit(7) };
            }
            let mut wstatus = 0;
            if child < 0
                || unsafe { libc::waitpid(child, &mut wstatus, 0) } != child
                || libc::WEXITSTATUS(wstatus) != 7
            {
                return 6;
            }
            let ns_clone = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWNS | libc::SIGCHLD) as u64,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if ns_clone == 0 {
                unsafe { libc::_exit(0) };
            }
            if ns_clone != -1 || errno() != libc::EPERM {
                return 7;
            }
            let vsock = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
            if vsock != -1 || errno() != libc::EPERM {
                return 8;
            }
            let unix = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            if unix < 0 {
                return 9;
            }
            if unsafe { libc::personality(0xffff_ffff) } == -1 {
                return 10;
            }
            if unsafe { libc::personality(0x0040_0000) } != -1 || errno() != libc::EPERM {
                return 11;
            }
            let mut buf = [0u8; 64];
            let fd = unsafe { libc::open(c"/proc/self/stat".as_ptr(), libc::O_RDONLY) };
            if fd < 0 || unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } <= 0 {
                return 12;
            }
            0
        });
        assert_eq!(exit_code(status), 0);
    }

    #[test]
    fn docker_default_profile_with_sys_admin() {
        let profile = docker_profile::default_profile(&docker_caps(&["CAP_SYS_ADMIN"]));
        let status = in_child(|| {
            prepare_child();
            if apply(&profile).is_err() {
                return 1;
            }
            // The call now reaches the kernel, which fails on the missing target
            // (or on privilege when the tests run unprivileged) instead of seccomp.
            let err = try_mount();
            if err == libc::EPERM && unsafe { libc::geteuid() } == 0 {
                return 2;
            }
            let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
            if r != -1 || errno() == libc::ENOSYS {
                return 3;
            }
            0
        });
        assert_eq!(exit_code(status), 0);
    }

    #[test]
    fn docker_default_profile_all_caps_compiles() {
        let all = docker_caps(&[
            "CAP_SYS_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_SYS_BOOT",
            "CAP_SYS_TIME",
            "CAP_SYS_PACCT",
            "CAP_SYS_RAWIO",
            "CAP_SYS_NICE",
            "CAP_SYSLOG",
            "CAP_BPF",
            "CAP_PERFMON",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYS_TTY_CONFIG",
        ]);
        compile(&docker_profile::default_profile(&all)).expect("compile");
        compile(&docker_profile::default_profile(&[])).expect("compile");
    }
    #[test]
    fn compiled_program_loads_and_filters_like_the_profile() {
        let profile = docker_profile::default_profile(&docker_caps(&[]));
        let bpf = compile_bpf(&profile).expect("compile");
        assert!(!bpf.is_empty() && bpf.len().is_multiple_of(8));
        assert_eq!(
            bpf,
            compile_bpf(&profile).unwrap(),
            "deterministic, so it can be cached"
        );
        let status = in_child(|| {
            prepare_child();
            if load_bpf(&profile, &bpf).is_err() {
                return 1;
            }
            if try_mount() != libc::EPERM {
                return 2;
            }
            if unsafe { libc::syscall(libc::SYS_getpid) } <= 0 {
                return 3;
            }
            0
        });
        assert_eq!(exit_code(status), 0);
        assert!(
            load_bpf(&profile, &[1, 2, 3]).is_err(),
            "a truncated program is refused"
        );
    }
}
