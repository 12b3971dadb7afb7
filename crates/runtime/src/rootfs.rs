//! The container's file system view: mounts from the spec, device nodes, pivot_root, masked and
//! read-only paths. Runs inside the container's new mount namespace, so nothing here is visible to
//! the host and nothing needs unmounting when the container dies.

use crate::cgroups::{Cgroup, Version};
use crate::error::{Result, RuntimeError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A mount applied onto the root file system before anything else, e.g. the image's overlay.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RootfsMount {
    /// File-system type, e.g. `overlay`.
    pub fstype: String,
    /// Mount source, e.g. `overlay`.
    pub source: String,
    /// Comma-separated options (flags and data), e.g. `lowerdir=...,upperdir=...`.
    pub options: Vec<String>,
    /// Directory to change into first, so long relative `lowerdir` lists fit mount(2)'s one-page
    /// data limit.
    pub chdir: Option<PathBuf>,
}

fn sys(ctx: impl Into<String>, e: impl Into<std::io::Error>) -> RuntimeError {
    RuntimeError::sys(ctx, e)
}

/// Splits mount options into flags, propagation flags and the data string.
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "dev" => flags &= !MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            "remount" => flags |= MsFlags::MS_REMOUNT,
            "mand" => flags |= MsFlags::MS_MANDLOCK,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "private" => prop |= MsFlags::MS_PRIVATE,
            "rprivate" => prop |= MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "slave" => prop |= MsFlags::MS_SLAVE,
            "rslave" => prop |= MsFlags::MS_SLAVE | MsFlags::MS_REC,
            "shared" => prop |= MsFlags::MS_SHARED,
            "rshared" => prop |= MsFlags::MS_SHARED | MsFlags::MS_REC,
            "unbindable" => prop |= MsFlags::MS_UNBINDABLE,
            "runbindable" => prop |= MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
            other => data.push(other),
        }
    }
    (flags, prop, data.join(","))
}

/// Applies the pre-mounts onto `rootfs`; without any, binds `rootfs` onto itself because
/// pivot_root(2) needs the new root to be a mount point.
pub fn mount_rootfs(rootfs: &Path, pre: &[RootfsMount]) -> Result<()> {
    if pre.is_empty() {
        mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| sys(format!("bind rootfs {}", rootfs.display()), e))?;
    }
    for m in pre {
        let (flags, _, data) = parse_options(&m.options);
        if let Some(dir) = &m.chdir {
            nix::unistd::chdir(dir.as_path())
                .map_err(|e| sys(format!("chdir {}", dir.display()), e))?;
        }
        mount(
            Some(m.source.as_str()),
            rootfs,
            Some(m.fstype.as_str()),
            flags,
            Some(data.as_str()),
        )
        .map_err(|e| sys(format!("mount {} on {}", m.fstype, rootfs.display()), e))?;
    }
    Ok(())
}

/// Opens (creating as needed) `dest` inside `root`, resolving every component as if `root`
/// were `/`, so a symlink in the image cannot redirect a mount onto the host (openat2(2)
/// RESOLVE_IN_ROOT, the class of CVE-2021-30465).
pub fn open_in_root(root: &OwnedFd, dest: &Path, file: bool) -> Result<OwnedFd> {
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let rel = dest.strip_prefix("/").unwrap_or(dest);
    let mut cur = rustix::fs::openat2(
        root,
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        how,
    )
    .map_err(|e| sys("open rootfs", e))?;
    let comps: Vec<_> = rel.components().collect();
    for (i, comp) in comps.iter().enumerate() {
        let name = comp.as_os_str();
        let last = i + 1 == comps.len();
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        match rustix::fs::openat2(&cur, name, flags, Mode::empty(), how) {
            Ok(fd) => cur = fd,
            Err(rustix::io::Errno::NOENT) => {
                if last && file {
                    let f = rustix::fs::openat2(
                        &cur,
                        name,
                        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                        how,
                    )
                    .map_err(|e| sys(format!("create mount point {}", dest.display()), e))?;
                    drop(f);
                } else {
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => {
                            return Err(sys(format!("create mount point {}", dest.display()), e))
                        }
                    }
                }
                cur = rustix::fs::openat2(&cur, name, flags, Mode::empty(), how)
                    .map_err(|e| sys(format!("open mount point {}", dest.display()), e))?;
            }
            Err(e) => return Err(sys(format!("open mount point {}", dest.display()), e)),
        }
    }
    Ok(cur)
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Mounts every spec mount under the (not yet pivoted) root at `rootfs`.
pub fn mount_spec_mounts(rootfs: &Path, spec: &Spec, cgroup: Option<&Cgroup>) -> Result<()> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys(format!("open {}", rootfs.display()), e))?;
    for m in spec.mounts().iter().flatten() {
        mount_one(&root, m, cgroup)?;
    }
    Ok(())
}

fn mount_one(root: &OwnedFd, m: &Mount, cgroup: Option<&Cgroup>) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let options = m.options().clone().unwrap_or_default();
    let (flags, prop, data) = parse_options(&options);
    let dest = m.destination();
    let is_bind = flags.contains(MsFlags::MS_BIND) || typ == "bind";
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(root, dest, flags, cgroup);
    }
    let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let file = is_bind
        && std::fs::metadata(&src)
            .map(|md| !md.is_dir())
            .unwrap_or(false);
    let target_fd = open_in_root(root, dest, file)?;
    let target = fd_path(&target_fd);
    let ctx = || format!("mount {} on {}", src.display(), dest.display());
    if is_bind {
        let rec = flags & MsFlags::MS_REC;
        mount(
            Some(src.as_path()),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | rec,
            None::<&str>,
        )
        .map_err(|e| sys(ctx(), e))?;
        let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            // The remount must go through a fresh handle: the old fd names the covered directory.
            let fresh = open_in_root(root, dest, file)?;
            remount_bind(&fd_path(&fresh), extra)
                .map_err(|e| sys(format!("remount {}", dest.display()), e))?;
        }
    } else {
        let data = if data.is_empty() {
            None
        } else {
            Some(data.as_str())
        };
        mount(Some(src.as_path()), target.as_str(), Some(typ), flags, data)
            .map_err(|e| sys(ctx(), e))?;
    }
    if !prop.is_empty() {
        let fresh = open_in_root(root, dest, file)?;
        mount(
            None::<&str>,
            fd_path(&fresh).as_str(),
            None::<&str>,
            prop,
            None::<&str>,
        )
        .map_err(|e| sys(ctx(), e))?;
    }
    Ok(())
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks on the source mount
/// (nosuid, nodev, noexec, atime) which an unprivileged remount may not clear.
fn remount_bind(target: &str, flags: MsFlags) -> nix::Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(
        None::<&str>,
        target,
        None::<&str>,
        base | flags,
        None::<&str>,
    ) {
        Err(nix::errno::Errno::EPERM) => {
            let st = nix::sys::statvfs::statvfs(target)?;
            let f = st.flags();
            use nix::sys::statvfs::FsFlags;
            let mut keep = MsFlags::empty();
            for (a, b) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if f.contains(a) {
                    keep |= b;
                }
            }
            mount(
                None::<&str>,
                target,
                None::<&str>,
                base | flags | keep,
                None::<&str>,
            )
        }
        other => other,
    }
}

/// v2: a cgroup2 mount (the container has its own cgroup namespace, so it sees only its own
/// subtree). v1: a tmpfs with the container's own directory of each hierarchy bound in.
fn mount_cgroup(
    root: &OwnedFd,
    dest: &Path,
    flags: MsFlags,
    cgroup: Option<&Cgroup>,
) -> Result<()> {
    let fd = open_in_root(root, dest, false)?;
    let target = fd_path(&fd);
    let ro = flags & MsFlags::MS_RDONLY;
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let v = cgroup.map(|c| c.version()).unwrap_or_else(Version::detect);
    if v == Version::V2 {
        return mount(
            Some("cgroup2"),
            target.as_str(),
            Some("cgroup2"),
            base | ro,
            None::<&str>,
        )
        .map_err(|e| sys(format!("mount cgroup2 on {}", dest.display()), e));
    }
    mount(
        Some("tmpfs"),
        target.as_str(),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(|e| sys(format!("mount tmpfs on {}", dest.display()), e))?;
    if let Some(cg) = cgroup {
        let fresh = open_in_root(root, dest, false)?;
        for dir in cg.dirs() {
            let Some(name) = dir
                .ancestors()
                .find(|a| a.parent() == Some(Path::new("/sys/fs/cgroup")))
                .and_then(|a| a.file_name())
            else {
                continue;
            };
            let sub = rustix::fs::mkdirat(&fresh, name, Mode::from_raw_mode(0o755));
            if let Err(e) = sub {
                if e != rustix::io::Errno::EXIST {
                    return Err(sys("mkdir cgroup mount point", e));
                }
            }
            let t = format!("{}/{}", fd_path(&fresh), name.to_string_lossy());
            mount(
                Some(dir),
                t.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| sys(format!("bind {}", dir.display()), e))?;
            remount_bind(&t, base | ro).map_err(|e| sys("remount cgroup", e))?;
        }
    }
    if !ro.is_empty() {
        let fresh = open_in_root(root, dest, false)?;
        mount(
            None::<&str>,
            fd_path(&fresh).as_str(),
            None::<&str>,
            MsFlags::MS_REMOUNT | base | ro,
            Some("mode=755"),
        )
        .map_err(|e| sys("remount cgroup tmpfs read-only", e))?;
    }
    Ok(())
}

/// Creates the spec's device nodes and the standard /dev symlinks under `rootfs`/dev.
pub fn create_devices(rootfs: &Path, devices: &[LinuxDevice]) -> Result<()> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys(format!("open {}", rootfs.display()), e))?;
    let dev = open_in_root(&root, Path::new("/dev"), false)?;
    // /proc/self/fd/N of an O_PATH fd is a usable directory path for the *at-less std calls.
    let devdir = PathBuf::from(fd_path(&dev));
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let result = (|| {
        for d in devices {
            let p = d.path();
            let rel = p.strip_prefix("/dev").map_err(|_| {
                RuntimeError::Spec(format!("device {} is not under /dev", p.display()))
            })?;
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => rustix::fs::FileType::CharacterDevice,
                LinuxDeviceType::B => rustix::fs::FileType::BlockDevice,
                LinuxDeviceType::P => rustix::fs::FileType::Fifo,
                LinuxDeviceType::A => continue,
            };
            let mode = Mode::from_raw_mode(d.file_mode().unwrap_or(0o666));
            // Made relative to its parent, opened inside the root: a `..` or a symlink that the
            // image or a volume put on the way cannot place the node (or its owner) on the host.
            let clean = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            let (Some(name), true) = (rel.file_name(), clean) else {
                return Err(RuntimeError::Spec(format!(
                    "device {} is not a clean path under /dev",
                    p.display()
                )));
            };
            let parent = match rel.parent().filter(|q| !q.as_os_str().is_empty()) {
                Some(q) => open_in_root(&root, &Path::new("/dev").join(q), false)?,
                None => open_in_root(&root, Path::new("/dev"), false)?,
            };
            let _ = rustix::fs::unlinkat(&parent, name, rustix::fs::AtFlags::empty());
            rustix::fs::mknodat(
                &parent,
                name,
                kind,
                mode,
                rustix::fs::makedev(d.major() as u32, d.minor() as u32),
            )
            .map_err(|e| sys(format!("mknod {}", p.display()), e))?;
            let uid = d.uid().map(rustix::fs::Uid::from_raw);
            let gid = d.gid().map(rustix::fs::Gid::from_raw);
            if uid.is_some() || gid.is_some() {
                rustix::fs::chownat(
                    &parent,
                    name,
                    uid,
                    gid,
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| sys(format!("chown {}", p.display()), e))?;
            }
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
            ("core", "/proc/kcore"),
        ] {
            match std::os::unix::fs::symlink(target, devdir.join(link)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(sys(format!("symlink /dev/{link}"), e)),
            }
        }
        Ok(())
    })();
    nix::sys::stat::umask(old);
    result
}

/// Makes `rootfs` the root and detaches the old one (pivot_root(2) with new_root == put_old, as
/// the man page's example does, so no directory is needed inside the image).
pub fn pivot(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(|e| sys("chdir rootfs", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| sys("pivot_root", e))?;
    // The old root is stacked under the new one; keep its mounts' events away from the host,
    // then drop it.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("make old root slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| sys("detach old root", e))?;
    nix::unistd::chdir("/").map_err(|e| sys("chdir /", e))?;
    Ok(())
}

/// Hides `paths` (files under /dev/null, directories under an empty read-only tmpfs); absent
/// paths are skipped since kernels differ in what /proc and /sys carry.
pub fn mask_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let md = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let r = if md.is_dir() {
            mount(
                Some("tmpfs"),
                p.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            )
        } else {
            mount(
                Some("/dev/null"),
                p.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        r.map_err(|e| sys(format!("mask {p}"), e))?;
    }
    Ok(())
}

/// Makes `paths` read-only with a bind mount onto themselves; absent paths are skipped.
pub fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        mount(
            Some(p.as_str()),
            p.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| sys(format!("bind {p}"), e))?;
        remount_bind(p, MsFlags::MS_RDONLY | MsFlags::MS_REC)
            .map_err(|e| sys(format!("read-only {p}"), e))?;
    }
    Ok(())
}

/// Remounts the new root read-only (`--read-only`).
pub fn readonly_root() -> Result<()> {
    remount_bind("/", MsFlags::MS_RDONLY).map_err(|e| sys("remount / read-only", e))
}
