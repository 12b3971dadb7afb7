//! Docker's default seccomp profile, rendered as an OCI `LinuxSeccomp` for one container.
//!
//! The syscall lists and their gating mirror moby's `profiles/seccomp` package so that
//! workloads behave exactly as they would under `docker run` without `--security-opt`.
//! Gating is resolved here, on the host, once the container's capability set is known:
//! the runtime then only has to load a flat rule list.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};

/// Docker's default seccomp profile for a container holding `capabilities` (names like "CAP_CHOWN").
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    let host = Host {
        arch: HostArch::current(),
        kernel: running_kernel(),
        caps: capabilities,
    };
    build(&host)
}

/// CPU architecture families that change which rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostArch {
    X86_64,
    X86,
    Aarch64,
    Arm,
    S390x,
    Riscv64,
    Ppc64le,
    Loongarch64,
    Other,
}

impl HostArch {
    fn current() -> Self {
        if cfg!(target_arch = "x86_64") {
            Self::X86_64
        } else if cfg!(target_arch = "x86") {
            Self::X86
        } else if cfg!(target_arch = "aarch64") {
            Self::Aarch64
        } else if cfg!(target_arch = "arm") {
            Self::Arm
        } else if cfg!(target_arch = "s390x") {
            Self::S390x
        } else if cfg!(target_arch = "riscv64") {
            Self::Riscv64
        } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
            Self::Ppc64le
        } else if cfg!(target_arch = "loongarch64") {
            Self::Loongarch64
        } else {
            Self::Other
        }
    }

    /// Seccomp architectures the filter must cover on this host.
    ///
    /// A 64-bit kernel also runs 32-bit (and x32) binaries; without their audit
    /// arches in the filter those binaries would be killed on their first syscall.
    /// An empty list leaves the runtime on libseccomp's native arch only, which is
    /// what Docker does for hosts it has no table for (32-bit and ppc64le hosts).
    fn seccomp_arches(self) -> Vec<Arch> {
        match self {
            Self::X86_64 => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
            Self::Aarch64 => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
            Self::S390x => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
            Self::Riscv64 => vec![Arch::ScmpArchRiscv64],
            Self::Loongarch64 => vec![Arch::ScmpArchLoongarch64],
            Self::X86 | Self::Arm | Self::Ppc64le | Self::Other => Vec::new(),
        }
    }
}

/// Everything about the target that decides whether a rule is emitted.
struct Host<'a> {
    arch: HostArch,
    /// `None` when the release string could not be read; treated as a current kernel.
    kernel: Option<(u32, u32)>,
    caps: &'a [String],
}

impl Host<'_> {
    fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }
}

/// Condition under which a rule is part of the profile.
#[derive(Clone, Copy)]
enum When {
    Always,
    Cap(&'static str),
    NoCap(&'static str),
    OnArch(&'static [HostArch]),
    NotOnArch(&'static [HostArch]),
    KernelAtLeast(u32, u32),
    Both(&'static When, &'static When),
}

impl When {
    fn holds(self, host: &Host<'_>) -> bool {
        match self {
            Self::Always => true,
            Self::Cap(cap) => host.has_cap(cap),
            Self::NoCap(cap) => !host.has_cap(cap),
            Self::OnArch(arches) => arches.contains(&host.arch),
            Self::NotOnArch(arches) => !arches.contains(&host.arch),
            Self::KernelAtLeast(major, minor) => host.kernel.is_none_or(|k| k >= (major, minor)),
            Self::Both(a, b) => a.holds(host) && b.holds(host),
        }
    }
}

/// One argument test: (index, operator, value, value_two).
type Cond = (usize, LinuxSeccompOperator, u64, u64);

/// A static rule of the profile before gating.
struct Rule {
    names: &'static [&'static str],
    /// `None` allows the call; `Some(errno)` fails it with that errno.
    errno: Option<u32>,
    cond: Option<Cond>,
    when: When,
}

impl Rule {
    const fn allow(names: &'static [&'static str], when: When) -> Self {
        Self {
            names,
            errno: None,
            cond: None,
            when,
        }
    }

    const fn allow_if(names: &'static [&'static str], cond: Cond, when: When) -> Self {
        Self {
            names,
            errno: None,
            cond: Some(cond),
            when,
        }
    }

    fn to_oci(&self) -> LinuxSyscall {
        let mut call = LinuxSyscall::default();
        call.set_names(self.names.iter().map(|n| (*n).to_string()).collect());
        match self.errno {
            None => {
                call.set_action(LinuxSeccompAction::ScmpActAllow);
            }
            Some(errno) => {
                call.set_action(LinuxSeccompAction::ScmpActErrno);
                call.set_errno_ret(Some(errno));
            }
        }
        if let Some((index, op, value, value_two)) = self.cond {
            let mut arg = LinuxSeccompArgBuilder::default()
                .index(index)
                .op(op)
                .value(value);
            // Only the masked comparison has a second operand (the expected value
            // after masking); spelling it out spares consumers the implicit zero.
            if op == LinuxSeccompOperator::ScmpCmpMaskedEq {
                arg = arg.value_two(value_two);
            }
            let arg = arg
                .build()
                .expect("every field of a seccomp argument has a default");
            call.set_args(Some(vec![arg]));
        }
        call
    }
}

/// personality(2) is allowed only for an exact persona value.
const fn persona(value: u64) -> Rule {
    Rule::allow_if(&["personality"], (0, EQ, value, 0), When::Always)
}

const EQ: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpEq;
const LT: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpLt;
const GT: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpGt;
const MASKED_EQ: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpMaskedEq;

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;

const AF_ALG: u64 = libc::AF_ALG as u64;
const AF_VSOCK: u64 = libc::AF_VSOCK as u64;

// The three socket rules together allow every family except AF_ALG and AF_VSOCK,
// which only works while exactly one family sits between them.
const _: () = assert!(AF_ALG == 38 && AF_VSOCK == 40);

/// Namespace-creating clone flags that an unprivileged container must not pass.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// personality(2) personas that are harmless: plain Linux, 32-bit Linux, UNAME26
/// (old uname release string) with either, and 0xffffffff, which only queries.
const HARMLESS_PERSONAS: [u64; 5] = [0x0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];

const X86_64: HostArch = HostArch::X86_64;
const X86: HostArch = HostArch::X86;
const AARCH64: HostArch = HostArch::Aarch64;
const ARM: HostArch = HostArch::Arm;
const S390X: HostArch = HostArch::S390x;

/// Calls every container may make. Names libseccomp does not know (newer than the
/// installed library or absent on this arch) are skipped by the runtime, so the list
/// can run ahead of old hosts.
#[rustfmt::skip]
const BASELINE: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr",
    "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
    "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
    "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat",
    "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
    "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
    "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat",
    "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
];

#[rustfmt::skip]
const SYS_ADMIN_CALLS: &[&str] = &[
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
    "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
    "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
];

#[rustfmt::skip]
const SYS_PTRACE_CALLS: &[&str] = &[
    "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
];

/// Kernel 4.8 closed the hole that let ptrace bypass seccomp, so from then on
/// tracing one's own children is safe without CAP_SYS_PTRACE.
const PTRACE_CALLS: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

const NO_SYS_ADMIN: When = When::NoCap("CAP_SYS_ADMIN");

/// The profile's rules in Docker's order; gating is evaluated per container.
const RULES: &[Rule] = &[
    Rule::allow(BASELINE, When::Always),
    Rule::allow(PTRACE_CALLS, When::KernelAtLeast(4, 8)),
    // Recent Docker refuses AF_ALG (kernel crypto API, a recurring source of
    // exploitable bugs) and AF_VSOCK (reaches the hypervisor / other guests).
    // A single "not equal" cannot exclude two values, hence three ranges.
    Rule::allow_if(&["socket"], (0, LT, AF_ALG, 0), When::Always),
    Rule::allow_if(&["socket"], (0, EQ, AF_ALG + 1, 0), When::Always),
    Rule::allow_if(&["socket"], (0, GT, AF_VSOCK, 0), When::Always),
    persona(HARMLESS_PERSONAS[0]),
    persona(HARMLESS_PERSONAS[1]),
    persona(HARMLESS_PERSONAS[2]),
    persona(HARMLESS_PERSONAS[3]),
    persona(HARMLESS_PERSONAS[4]),
    Rule::allow(
        &["sync_file_range2", "swapcontext"],
        When::OnArch(&[HostArch::Ppc64le]),
    ),
    Rule::allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        When::OnArch(&[ARM, AARCH64]),
    ),
    Rule::allow(&["arch_prctl"], When::OnArch(&[X86_64])),
    Rule::allow(&["modify_ldt"], When::OnArch(&[X86_64, X86])),
    Rule::allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        When::OnArch(&[S390X]),
    ),
    Rule::allow(&["riscv_flush_icache"], When::OnArch(&[HostArch::Riscv64])),
    Rule::allow(&["open_by_handle_at"], When::Cap("CAP_DAC_READ_SEARCH")),
    Rule::allow(SYS_ADMIN_CALLS, When::Cap("CAP_SYS_ADMIN")),
    // Without CAP_SYS_ADMIN plain fork/thread creation must keep working, so clone
    // stays allowed as long as no namespace flag is set.
    Rule::allow_if(
        &["clone"],
        (0, MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0),
        When::Both(&NO_SYS_ADMIN, &When::NotOnArch(&[S390X])),
    ),
    // s390 swaps clone's first two arguments, putting the flags in arg 1.
    Rule::allow_if(
        &["clone"],
        (1, MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0),
        When::Both(&NO_SYS_ADMIN, &When::OnArch(&[S390X])),
    ),
    // clone3 passes its flags behind a pointer seccomp cannot inspect. ENOSYS
    // (rather than EPERM) makes glibc and others fall back to the filtered clone.
    Rule {
        names: &["clone3"],
        errno: Some(ENOSYS),
        cond: None,
        when: NO_SYS_ADMIN,
    },
    Rule::allow(&["reboot"], When::Cap("CAP_SYS_BOOT")),
    Rule::allow(&["chroot"], When::Cap("CAP_SYS_CHROOT")),
    Rule::allow(
        &["delete_module", "init_module", "finit_module"],
        When::Cap("CAP_SYS_MODULE"),
    ),
    Rule::allow(&["acct"], When::Cap("CAP_SYS_PACCT")),
    Rule::allow(SYS_PTRACE_CALLS, When::Cap("CAP_SYS_PTRACE")),
    Rule::allow(&["iopl", "ioperm"], When::Cap("CAP_SYS_RAWIO")),
    Rule::allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        When::Cap("CAP_SYS_TIME"),
    ),
    Rule::allow(&["vhangup"], When::Cap("CAP_SYS_TTY_CONFIG")),
    Rule::allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        When::Cap("CAP_SYS_NICE"),
    ),
    Rule::allow(&["syslog"], When::Cap("CAP_SYSLOG")),
    Rule::allow(&["bpf"], When::Cap("CAP_BPF")),
    Rule::allow(&["perf_event_open"], When::Cap("CAP_PERFMON")),
];

fn build(host: &Host<'_>) -> LinuxSeccomp {
    let syscalls: Vec<LinuxSyscall> = RULES
        .iter()
        .filter(|r| r.when.holds(host))
        .map(Rule::to_oci)
        .collect();
    let arches = host.arch.seccomp_arches();

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(EPERM));
    profile.set_architectures((!arches.is_empty()).then_some(arches));
    profile.set_syscalls(Some(syscalls));
    profile
}

/// (major, minor) of the running kernel.
///
/// The profile is generated on the host that will run the container, so the
/// host's kernel is the one the filter will meet.
fn running_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_release(&release)
}

fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| (*c).to_string()).collect()
    }

    /// Docker's default capability set, which lacks every gated capability.
    fn docker_default_caps() -> Vec<String> {
        caps(&[
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
        ])
    }

    fn profile_on(
        arch: HostArch,
        kernel: Option<(u32, u32)>,
        capabilities: &[String],
    ) -> LinuxSeccomp {
        build(&Host {
            arch,
            kernel,
            caps: capabilities,
        })
    }

    fn rules_for<'a>(profile: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        profile
            .syscalls()
            .as_ref()
            .expect("syscalls present")
            .iter()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    fn allowed_unconditionally(profile: &LinuxSeccomp, name: &str) -> bool {
        rules_for(profile, name)
            .iter()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
    }

    #[test]
    fn default_action_is_eperm() {
        let p = default_profile(&docker_default_caps());
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert!(p.flags().is_none());
    }

    #[test]
    fn basic_io_allowed() {
        let p = default_profile(&[]);
        for name in [
            "read",
            "write",
            "openat",
            "close",
            "execve",
            "exit_group",
            "futex",
            "rseq",
        ] {
            assert!(allowed_unconditionally(&p, name), "{name} must be allowed");
        }
    }

    #[test]
    fn baseline_has_no_duplicates_and_matches_docker_size() {
        let mut names = BASELINE.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BASELINE.len());
        assert_eq!(BASELINE.len(), 361);
    }

    #[test]
    fn mount_needs_sys_admin() {
        let without = default_profile(&docker_default_caps());
        for name in ["mount", "umount2", "unshare", "setns", "bpf", "sethostname"] {
            assert!(
                rules_for(&without, name).is_empty(),
                "{name} must be denied"
            );
        }
        let mut with_admin = docker_default_caps();
        with_admin.push("CAP_SYS_ADMIN".into());
        let with = default_profile(&with_admin);
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "bpf",
            "sethostname",
            "clone3",
        ] {
            assert!(
                allowed_unconditionally(&with, name),
                "{name} must be allowed"
            );
        }
    }

    #[test]
    fn clone_masks_namespace_flags_without_sys_admin() {
        let p = profile_on(HostArch::X86_64, Some((6, 1)), &docker_default_caps());
        let clones = rules_for(&p, "clone");
        assert_eq!(clones.len(), 1);
        let args = clones[0].args().as_ref().expect("clone is conditional");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7e02_0000);
        assert_eq!(args[0].value_two(), Some(0));

        let s390 = profile_on(HostArch::S390x, Some((6, 1)), &[]);
        let clones = rules_for(&s390, "clone");
        assert_eq!(clones.len(), 1);
        assert_eq!(clones[0].args().as_ref().unwrap()[0].index(), 1);
    }

    #[test]
    fn clone3_enosys_without_sys_admin() {
        let p = default_profile(&[]);
        let c3 = rules_for(&p, "clone3");
        assert_eq!(c3.len(), 1);
        assert_eq!(c3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(c3[0].errno_ret(), Some(38));
    }

    #[test]
    fn clone_unrestricted_with_sys_admin() {
        let p = default_profile(&caps(&["CAP_SYS_ADMIN"]));
        let clones = rules_for(&p, "clone");
        assert_eq!(clones.len(), 1);
        assert!(clones[0].args().is_none());
        assert!(rules_for(&p, "clone3")
            .iter()
            .all(|s| s.action() == LinuxSeccompAction::ScmpActAllow));
    }

    #[test]
    fn capability_gates() {
        let gated = [
            ("CAP_SYS_PTRACE", "kcmp"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_CHROOT", "chroot"),
            ("CAP_SYS_TIME", "clock_settime"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_RAWIO", "iopl"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
        ];
        let none = default_profile(&[]);
        for (cap, name) in gated {
            assert!(
                rules_for(&none, name).is_empty(),
                "{name} allowed without {cap}"
            );
            let with = default_profile(&caps(&[cap]));
            assert!(
                allowed_unconditionally(&with, name),
                "{name} denied with {cap}"
            );
        }
    }

    #[test]
    fn ptrace_follows_kernel_version() {
        let old = profile_on(HostArch::X86_64, Some((4, 4)), &[]);
        assert!(rules_for(&old, "ptrace").is_empty());
        let new = profile_on(HostArch::X86_64, Some((4, 8)), &[]);
        assert!(allowed_unconditionally(&new, "ptrace"));
        let unknown = profile_on(HostArch::X86_64, None, &[]);
        assert!(allowed_unconditionally(&unknown, "ptrace"));
    }

    #[test]
    fn personality_limited() {
        let p = default_profile(&[]);
        let rules = rules_for(&p, "personality");
        let mut values: Vec<u64> = rules
            .iter()
            .map(|s| {
                let args = s.args().as_ref().expect("personality is conditional");
                assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpEq);
                args[0].value()
            })
            .collect();
        values.sort_unstable();
        assert_eq!(values, vec![0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn socket_excludes_alg_and_vsock() {
        let p = default_profile(&[]);
        let rules = rules_for(&p, "socket");
        assert_eq!(rules.len(), 3);
        let admits = |family: u64| {
            rules.iter().any(|s| {
                let a = s.args().as_ref().unwrap()[0];
                match a.op() {
                    LinuxSeccompOperator::ScmpCmpLt => family < a.value(),
                    LinuxSeccompOperator::ScmpCmpEq => family == a.value(),
                    LinuxSeccompOperator::ScmpCmpGt => family > a.value(),
                    other => panic!("unexpected operator {other:?}"),
                }
            })
        };
        for family in [
            libc::AF_UNIX,
            libc::AF_INET,
            libc::AF_INET6,
            libc::AF_NETLINK,
            libc::AF_PACKET,
            39,
            41,
            45,
        ] {
            assert!(admits(family as u64), "family {family} must be allowed");
        }
        assert!(!admits(libc::AF_ALG as u64));
        assert!(!admits(libc::AF_VSOCK as u64));
    }

    #[test]
    fn architectures_for_host() {
        let p = default_profile(&[]);
        let arches = p.architectures().clone().unwrap_or_default();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                arches,
                vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
            );
        } else if cfg!(target_arch = "aarch64") {
            assert_eq!(arches, vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]);
        }
        let arm = profile_on(HostArch::Aarch64, None, &[]);
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(profile_on(HostArch::Ppc64le, None, &[])
            .architectures()
            .is_none());
    }

    #[test]
    fn arch_specific_calls() {
        let x86 = profile_on(HostArch::X86_64, None, &[]);
        assert!(allowed_unconditionally(&x86, "arch_prctl"));
        assert!(allowed_unconditionally(&x86, "modify_ldt"));
        assert!(rules_for(&x86, "set_tls").is_empty());
        let arm = profile_on(HostArch::Aarch64, None, &[]);
        assert!(allowed_unconditionally(&arm, "set_tls"));
        assert!(allowed_unconditionally(&arm, "cacheflush"));
        assert!(rules_for(&arm, "arch_prctl").is_empty());
        assert!(rules_for(&arm, "modify_ldt").is_empty());
    }

    #[test]
    fn serializes_like_oci() {
        let json = serde_json::to_value(default_profile(&[])).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["valueTwo"], 0);
    }

    #[test]
    fn parses_kernel_release() {
        assert_eq!(parse_release("6.1.0-18-amd64\n"), Some((6, 1)));
        assert_eq!(parse_release("4.8"), Some((4, 8)));
        assert_eq!(parse_release("garbage"), None);
    }
}
