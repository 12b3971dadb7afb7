//! Owners, modes, times and xattrs: decoded from a header and its pax records, and set.

use std::ffi::{CStr, CString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::fs::{self as rfs, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::name::{cname, lossy};
use super::UnpackError;

/// The pax record prefix that GNU tar, Docker and BuildKit use for xattrs.
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Metadata of one entry, decoded from its header and pax records.
pub(super) struct Meta {
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    pub(super) mode: Mode,
    pub(super) times: Timestamps,
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

/// Where to set xattrs: an open fd, or a name in a directory, for inodes we must not open.
pub(super) enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a CStr),
}

/// Gives `name` in `dir` the entry's owner, never through a link (the name may be one).
pub(super) fn chown_entry(dir: BorrowedFd<'_>, name: &CStr, meta: &Meta) -> rustix::io::Result<()> {
    rfs::chownat(
        dir,
        name,
        Some(meta.uid),
        Some(meta.gid),
        rfs::AtFlags::SYMLINK_NOFOLLOW,
    )
}

/// Only the permission bits: file-type bits in a header mode are noise.
pub(super) fn perm(mode: u32) -> Mode {
    Mode::from_raw_mode(mode & 0o7777)
}

/// Parses a pax time record ("secs[.frac]", possibly negative) with ns precision.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !neg {
        Timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        }
    } else if nsec == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nsec,
        }
    })
}

/// Overlayfs keeps its own metadata in these namespaces, so layers must not supply it.
fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether an xattr failure may be skipped, per the module's policy (as Docker does).
fn xattr_failure_ignorable(name: &CStr, err: Errno) -> bool {
    let name = name.to_bytes();
    (name.starts_with(b"security.") && name != b"security.capability")
        || err == Errno::OPNOTSUPP
        || err == Errno::PERM
}

/// Go's archive/tar, which wrote most layers and parses them for Docker, reads an
/// all-NUL/space numeric field as 0. The tar crate rejects it, so we accept it here.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        other => other,
    }
}

/// Decodes uid/gid/mode/times/xattrs. The tar crate has already applied pax uid/gid to the header.
pub(super) fn read_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    shown: &str,
) -> Result<Meta, UnpackError> {
    let bad = |error: io::Error| UnpackError::Header {
        path: shown.to_owned(),
        error,
    };
    let invalid = |msg: &str| bad(io::Error::new(io::ErrorKind::InvalidData, msg.to_owned()));
    let h = entry.header();
    let old = h.as_old();
    // u32::MAX is chown's "leave unchanged" sentinel, so it cannot be a real id.
    let id = |v: u64| u32::try_from(v).ok().filter(|v| *v != u32::MAX);
    let uid = numeric(h.uid(), &old.uid).map_err(bad)?;
    let uid = id(uid).ok_or_else(|| invalid("uid out of range"))?;
    let gid = numeric(h.gid(), &old.gid).map_err(bad)?;
    let gid = id(gid).ok_or_else(|| invalid("gid out of range"))?;
    let mode = perm(numeric(h.mode().map(u64::from), &old.mode).map_err(bad)? as u32);
    let mtime_secs =
        i64::try_from(numeric(h.mtime(), &old.mtime).map_err(bad)?).unwrap_or(i64::MAX);
    let mut mtime = Timespec {
        tv_sec: mtime_secs,
        tv_nsec: 0,
    };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(bad)? {
        for ext in exts {
            let ext = ext.map_err(bad)?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if name.is_empty() || name.contains(&0) {
                    return Err(invalid("malformed xattr name"));
                }
                if !is_overlay_xattr(name) {
                    xattrs.push((cname(name), ext.value_bytes().to_vec()));
                }
            } else if key == b"mtime" {
                mtime = parse_pax_time(ext.value_bytes())
                    .ok_or_else(|| invalid("malformed pax mtime"))?;
            } else if key == b"atime" {
                atime = Some(
                    parse_pax_time(ext.value_bytes())
                        .ok_or_else(|| invalid("malformed pax atime"))?,
                );
            }
        }
    }
    Ok(Meta {
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        mode,
        times: Timestamps {
            last_access: atime.unwrap_or(mtime),
            last_modification: mtime,
        },
        xattrs,
    })
}

/// The path by which we set xattrs on inodes we must not open (symlinks, devices,
/// fifos). The directory fd is already pinned, and the last component is a plain name
/// that lsetxattr does not follow.
fn proc_path(dir: BorrowedFd<'_>, name: &CStr) -> CString {
    let mut p = format!("/proc/thread-self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.to_bytes());
    CString::new(p).expect("fd number and clean name have no NUL")
}

/// Sets the entry's xattrs, skipping failures the policy allows.
pub(super) fn set_xattrs(
    target: XattrTarget<'_>,
    meta: &Meta,
    shown: &str,
) -> Result<(), UnpackError> {
    for (name, value) in &meta.xattrs {
        let res = match target {
            XattrTarget::Fd(fd) => rfs::fsetxattr(fd, name, value, XattrFlags::empty()),
            XattrTarget::At(dir, n) => {
                rfs::lsetxattr(proc_path(dir, n), name, value, XattrFlags::empty())
            }
        };
        match res {
            Ok(()) => {}
            Err(e) if xattr_failure_ignorable(name, e) => {}
            Err(e) => {
                return Err(UnpackError::Xattr {
                    path: shown.to_owned(),
                    name: lossy(name.to_bytes()),
                    error: e.into(),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use tar::EntryType;

    #[test]
    fn pax_xattrs_are_applied_with_policy() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW.
        let cap: &[u8] = &[
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        l.pax(&[
            ("SCHILY.xattr.security.capability", cap),
            ("SCHILY.xattr.user.note", b"hi"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
            ("SCHILY.xattr.security.selinux", b"not_a_real_label_t"),
        ]);
        let mut h = header("bin/ping", EntryType::Regular, 1, 0o755);
        h.set_uid(0);
        l.add(h, b"p");
        l.pax(&[
            ("SCHILY.xattr.user.dir", b"d"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ]);
        l.dir("etc/", 0o755);
        // user.* is not allowed on symlinks (xattr(7)); trusted.* is, via the /proc path.
        l.pax(&[
            ("SCHILY.xattr.user.nope", b"x"),
            ("SCHILY.xattr.trusted.t", b"sym"),
        ]);
        l.symlink("lnk", "/bin/ping");
        l.pax(&[("SCHILY.xattr.trusted.f", b"fifo")]);
        l.add(header("fifo", EntryType::Fifo, 0, 0o600), b"");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(
            xattr(&sb.p("bin/ping"), "security.capability").as_deref(),
            Some(cap)
        );
        assert_eq!(
            xattr(&sb.p("bin/ping"), "user.note").as_deref(),
            Some(&b"hi"[..])
        );
        assert_eq!(xattr(&sb.p("bin/ping"), "trusted.overlay.redirect"), None);
        assert_eq!(xattr(&sb.p("etc"), "user.dir").as_deref(), Some(&b"d"[..]));
        assert_eq!(xattr(&sb.p("etc"), "trusted.overlay.opaque"), None);
        assert_eq!(
            xattr(&sb.p("lnk"), "trusted.t").as_deref(),
            Some(&b"sym"[..])
        );
        assert_eq!(xattr(&sb.p("lnk"), "user.nope"), None);
        assert_eq!(
            xattr(&sb.p("fifo"), "trusted.f").as_deref(),
            Some(&b"fifo"[..])
        );
        // The symlink itself got the xattr, not its target.
        assert_eq!(xattr(&sb.p("bin/ping"), "trusted.t"), None);
    }

    #[test]
    fn pax_time_parsing() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("12"), Some((12, 0)));
        assert_eq!(t("12.5"), Some((12, 500_000_000)));
        assert_eq!(t("12.0000000019999"), Some((12, 1)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t(""), None);
        assert_eq!(t("1.x"), None);
        assert_eq!(t(".5"), None);
    }
}
