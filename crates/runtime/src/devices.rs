//! The cgroup v2 device controller: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the
//! container's cgroup that allows exactly the spec's device rules. cgroup v1 has a file
//! interface for this (`devices.allow`); v2 has only this, so without it a process holding
//! CAP_MKNOD could create and open a node for the host's disk.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// Opcodes (linux/bpf.h): class | op | source.
const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_mask(access: Option<&str>) -> i32 {
    let a = access.unwrap_or("rwm");
    let mut m = 0;
    if a.contains('r') {
        m |= ACC_READ;
    }
    if a.contains('w') {
        m |= ACC_WRITE;
    }
    if a.contains('m') {
        m |= ACC_MKNOD;
    }
    m
}

/// Compiles device rules, which apply in order with later rules overriding earlier ones (the v1
/// semantics), into a program whose first matching check wins: the rules are emitted last to
/// first, and a rule that matches every device ends the program. Whatever no rule matches is
/// denied. Returns None when the rules allow everything (nothing to attach).
pub fn program(rules: &[LinuxDeviceCgroup]) -> Option<Vec<Insn>> {
    // r1 = ctx {access_type, major, minor}; r2 = access, r3 = type, r4 = major, r5 = minor.
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_MOV_X, 3, 2, 0, 0),
        insn(ALU32_AND_K, 3, 0, 0, 0xffff),
        insn(ALU32_RSH_K, 2, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let mut ends_with_catch_all = false;
    for r in rules.iter().rev() {
        let typ = match r.typ() {
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
            Some(LinuxDeviceType::P) => continue, // fifos are not devices to the kernel's check
            Some(LinuxDeviceType::A) | None => None,
        };
        let mask = access_mask(r.access().as_deref());
        let mut checks = Vec::new();
        if let Some(t) = typ {
            checks.push((insn(JMP_JNE_K, 3, 0, 0, t), None));
        }
        if mask != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // Every requested access bit must be in the rule's mask.
            checks.push((insn(ALU32_MOV_X, 6, 2, 0, 0), Some(())));
            checks.push((insn(ALU32_AND_K, 6, 0, 0, !mask & 7), Some(())));
            checks.push((insn(JMP_JNE_K, 6, 0, 0, 0), None));
        }
        if let Some(m) = r.major() {
            checks.push((insn(JMP_JNE_K, 4, 0, 0, m as i32), None));
        }
        if let Some(m) = r.minor() {
            checks.push((insn(JMP_JNE_K, 5, 0, 0, m as i32), None));
        }
        let verdict = [
            insn(ALU64_MOV_K, 0, 0, 0, r.allow() as i32),
            insn(JMP_EXIT, 0, 0, 0, 0),
        ];
        let block_len = checks.len() + verdict.len();
        for (i, (mut ins, not_jump)) in checks.into_iter().enumerate() {
            if not_jump.is_none() {
                // On mismatch skip the rest of this rule's block.
                ins.off = (block_len - i - 1) as i16;
            }
            p.push(ins);
        }
        p.extend_from_slice(&verdict);
        if typ.is_none() && mask == 7 && r.major().is_none() && r.minor().is_none() {
            ends_with_catch_all = true;
            if r.allow() && p.len() == 8 {
                return None; // the last rule allows everything
            }
            break;
        }
    }
    if !ends_with_catch_all {
        p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    }
    Some(p)
}

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Loads `prog` and attaches it to the cgroup2 directory `dir`. The attachment lives as long as
/// the cgroup; the program's descriptor can be dropped.
pub fn attach(dir: &Path, prog: &[Insn]) -> std::io::Result<()> {
    let license = c"Apache";
    let mut log = vec![0u8; 4096];
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: bpf(2) reads the attribute struct and the buffers it points at, all alive here.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>() as u32,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let msg = String::from_utf8_lossy(&log)
            .trim_end_matches('\0')
            .trim()
            .to_string();
        return Err(std::io::Error::new(
            e.kind(),
            format!("load device program: {e} {msg}"),
        ));
    }
    // SAFETY: a fresh descriptor we own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cg = std::fs::File::open(dir)?;
    let attr = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: as above.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>() as u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::new(
            std::io::Error::last_os_error().kind(),
            format!("attach device program: {}", std::io::Error::last_os_error()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: serde_json::Value) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_value(json).unwrap()
    }

    /// Runs a program on one request in a tiny interpreter of the instructions we emit.
    fn eval(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> bool {
        let mut r = [0u64; 11];
        let ctx = [(access << 16) | typ, major, minor];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = ctx[i.off as usize / 4] as u64,
                ALU32_MOV_X => r[dst] = r[src] & 0xffff_ffff,
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0] == 1,
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn docker_default() -> Vec<LinuxDeviceCgroup> {
        rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
        ]))
    }

    #[test]
    fn docker_default_rules_compile_to_the_right_decisions() {
        let p = program(&docker_default()).unwrap();
        let c = DEV_CHAR as u32;
        let b = DEV_BLOCK as u32;
        assert!(
            eval(&p, c, ACC_READ as u32 | ACC_WRITE as u32, 1, 3),
            "/dev/null rw"
        );
        assert!(eval(&p, c, ACC_READ as u32, 136, 7), "any pts");
        assert!(
            eval(&p, b, ACC_MKNOD as u32, 8, 0),
            "mknod of a disk is allowed"
        );
        assert!(
            !eval(&p, b, ACC_READ as u32, 8, 0),
            "reading the disk is not"
        );
        assert!(
            !eval(&p, c, ACC_READ as u32 | ACC_MKNOD as u32, 1, 1),
            "/dev/mem read"
        );
        assert!(!eval(&p, c, ACC_WRITE as u32, 1, 4), "/dev/port");
    }

    #[test]
    fn allow_all_needs_no_program() {
        assert!(program(&rules(
            serde_json::json!([{"allow": true, "access": "rwm"}])
        ))
        .is_none());
    }

    /// Loads the program into the kernel and attaches it to a cgroup on the host's v2 mount
    /// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host); a process there can use
    /// /dev/null but not a block device node.
    #[test]
    fn kernel_enforces_the_program() {
        assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
        let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|p| crate::cgroups::Version::detect_at(p) == crate::cgroups::Version::V2)
            .expect("no cgroup v2 mount on this host");
        let dir = root.join(format!("berth-dev-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        attach(&dir, &program(&docker_default()).unwrap()).unwrap();
        let node = std::env::temp_dir().join(format!("berth-dev-test-{}", std::process::id()));
        let procs = dir.join("cgroup.procs");
        let node_c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = (|| {
                if std::fs::write(&procs, "0").is_err() {
                    return 10;
                }
                if std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/null")
                    .is_err()
                {
                    return 11;
                }
                // SAFETY: mknod(2) of a block node for the first disk, then opening it.
                unsafe {
                    if libc::mknod(node_c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(8, 0)) != 0
                    {
                        return 12;
                    }
                    let fd = libc::open(node_c.as_ptr(), libc::O_RDONLY);
                    if fd >= 0 {
                        return 13;
                    }
                    if std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
                        return 14;
                    }
                }
                0
            })();
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let _ = std::fs::remove_file(&node);
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "device program not enforced as expected"
        );
    }
}
