//! The runtime root (dockerd's `--exec-root`): what one berth keeps only while the host is
//! up — its containers' network namespaces. `/run/berth` unless `BERTH_EXEC_ROOT` names
//! another, read once per process so the shims a berth starts (which inherit its
//! environment) agree with it. What every berth on the host must agree on — subnet and
//! default-bridge reservations, the firewall's lock and markers — is host-wide, in
//! [`host_path`], whatever the runtime root.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The default runtime root.
pub const DEFAULT: &str = "/run/berth";

/// The runtime root of this process.
pub fn exec_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        std::env::var_os("BERTH_EXEC_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT))
    })
}

/// `rel` in the host-wide folder every berth shares (`/run/berth`): the bridges, their
/// subnets and the firewall table are the host's, one for all roots.
pub fn host_path(rel: &str) -> PathBuf {
    Path::new(DEFAULT).join(rel)
}

/// Refuses a runtime root that another user could plant links in: it must be an absolute
/// path, and where it exists a directory owned by root and writable by no one else.
pub fn check() -> crate::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let root = exec_root();
    let bad = |why: &str| crate::Error::invalid(format!("runtime root {}: {why}", root.display()));
    if !root.is_absolute() {
        return Err(bad("it must be an absolute path"));
    }
    match std::fs::symlink_metadata(root) {
        Ok(m) if !m.is_dir() => Err(bad("not a directory")),
        Ok(m) if m.uid() != 0 || m.mode() & 0o022 != 0 => Err(bad(
            "it must be owned by root and writable by no other user",
        )),
        _ => Ok(()),
    }
}

/// Where a container's network namespace is mounted.
pub fn netns_path(id: &str) -> PathBuf {
    exec_root().join("netns").join(id)
}
