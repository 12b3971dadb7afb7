//! The state root: where everything lives, how a file is written so a crash can never leave it
//! half-written, and the file locks that let many berth processes share one root.
//!
//! Layout under the root (default `/var/lib/berth`):
//! - `blobs/sha256/<hex>`: content store (see [`crate::content`])
//! - `layers/<diff-id hex>/diff`: unpacked layers, the overlay lower dirs
//! - `images/<id hex>.json`: image records; `repositories.json`: tags and digests to image ids
//! - `containers/<id>/`: a container's record, state, OCI bundle, copy-on-write layer and log
//! - `names/<name>`: one file per container name, created with O_EXCL so names stay unique
//!   across processes without a global lock
//! - `tmp/`: work in progress of live processes; leftovers of dead ones are swept at start
//! - `locks/`: flock(2) files
//!
//! Every metadata file is written to a temp file, fsync'ed and renamed into place, so readers see
//! the old or the new version and `kill -9` at any point cannot corrupt it.

use crate::error::{Error, IoContext, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The default state root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// Paths of one state root.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// Opens (creating as needed) the state root at `path`.
    pub fn open(path: &Path) -> Result<Root> {
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .ctx(|| "current dir".into())?
                .join(path)
        };
        fs::create_dir_all(&path).ctx(|| format!("create {}", path.display()))?;
        // Parents first ("blobs" before "blobs/sha256"), one mkdir each.
        let mut created = false;
        for sub in PRIVATE_DIRS.iter().copied().chain(["blobs/sha256"]) {
            match fs::create_dir(path.join(sub)) {
                Ok(()) => created = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(format!("create {}", path.join(sub).display()), e)),
            }
        }
        tighten(&path, created)?;
        Ok(Root { path })
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Directory of a container.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.path.join("containers").join(id)
    }
    /// Directory of an unpacked layer.
    pub fn layer_dir(&self, diff_hex: &str) -> PathBuf {
        self.path.join("layers").join(diff_hex)
    }
    /// A sub path of the root.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }

    /// A fresh temp path for work in progress, tagged with our pid so a sweep can tell whether
    /// its owner still lives.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.path
            .join("tmp")
            .join(format!("{what}-{}-{}", std::process::id(), random_hex(8)))
    }

    /// Removes temp files whose owning process is gone (after a crash or `kill -9`); a name
    /// that names no owner is a leftover too.
    pub fn sweep_temp(&self) {
        let Ok(rd) = fs::read_dir(self.path.join("tmp")) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = temp_owner(&name) {
                if pid_alive(pid) {
                    continue;
                }
            }
            let p = e.path();
            if p.is_dir() {
                let _ = make_writable_and_remove(&p);
            } else {
                let _ = fs::remove_file(&p);
            }
        }
    }

    /// Marks a live operation that stores blobs or layers before the image record naming them
    /// (pull, load, import, build, commit): orphan collection keeps all that is newer than the
    /// oldest live one. A killed operation's mark is swept with its owner.
    pub fn begin(&self, what: &str) -> Result<Operation> {
        let path = self.temp_path(&format!("op-{what}"));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .ctx(|| format!("create {}", path.display()))?;
        Ok(Operation { path })
    }

    /// When the oldest operation still running began (none: `None`); an error when `tmp/`
    /// cannot be read, since then no operation can be ruled out.
    pub fn oldest_operation(&self) -> Result<Option<std::time::SystemTime>> {
        let dir = self.path.join("tmp");
        let rd = fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))?;
        let mut oldest = None;
        for e in rd {
            let e = e.ctx(|| format!("read {}", dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("op-") && temp_owner(&name).is_some_and(pid_alive)) {
                continue;
            }
            // A mark whose time cannot be read holds everything back.
            let t = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            oldest = Some(oldest.map_or(t, |o: std::time::SystemTime| o.min(t)));
        }
        Ok(oldest)
    }

    /// Takes an exclusive lock named `name`, released when the guard drops.
    pub fn lock(&self, name: &str) -> Result<Lock> {
        Lock::exclusive(&self.path.join("locks").join(name))
    }
}

/// Puts a new file with `data` at `dest`, whole or not at all: written and synced at `tmp`
/// (on the same file system), then hard-linked into place, which fails with `AlreadyExists`
/// when `dest` exists; the folder is synced so the new name survives a power loss.
pub fn link_new(tmp: &Path, dest: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(d) = tmp.parent() {
        fs::create_dir_all(d)?;
    }
    let r = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        std::io::Write::write_all(&mut f, data)?;
        f.sync_all()?;
        fs::hard_link(tmp, dest)?;
        if let Some(d) = dest.parent() {
            fs::File::open(d)?.sync_all()?;
        }
        Ok(())
    })();
    let _ = fs::remove_file(tmp);
    r
}

/// The pid that owns a temp name `<what>-<pid>-<random>`, read from the right: `what` may
/// hold dashes itself (`build-context`, `build-copy`).
pub(crate) fn temp_owner(name: &str) -> Option<i32> {
    let mut parts = name.rsplitn(3, '-');
    let (_random, pid, _what) = (parts.next()?, parts.next()?, parts.next()?);
    pid.parse().ok()
}

/// The root's own mode: others may pass through (to reach nothing), never list or read.
const ROOT_MODE: u32 = 0o711;
/// Directories under the root that hold containers' files, layers (setuid files from images
/// among them: CVE-2021-41091), volumes and records: root's alone.
const PRIVATE_DIRS: &[&str] = &[
    "blobs",
    "layers",
    "images",
    "containers",
    "volumes",
    "names",
    "tmp",
    "locks",
];

/// Sets the root's modes, also on a root made by an older berth with 0755 everywhere; `created`
/// says this open made a folder, whose mode is then not set yet.
fn tighten(path: &Path, created: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &Path, mode: u32| {
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
            .ctx(|| format!("chmod {}", p.display()))
    };
    use std::os::unix::fs::MetadataExt;
    // The root's own mode is set last, so finding it set means the folders are done: every
    // later open costs one stat, not nine chmods (the CLI and every shim open the root).
    if !created && fs::metadata(path).is_ok_and(|m| m.mode() & 0o7777 == ROOT_MODE) {
        return Ok(());
    }
    for d in PRIVATE_DIRS {
        set(&path.join(d), 0o700)?;
    }
    set(path, ROOT_MODE)
}

/// True for the name of a temp file an atomic write or a link_new left beside its target
/// (`.<name>.tmp-<pid>-<rand>`) whose process is gone.
pub fn is_dead_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-") && !temp_owner(name).is_some_and(pid_alive)
}

/// Makes a rename or a new name in the folder `dir` survive a power loss (best effort: the
/// data itself was synced before).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Marks `p` as just used: a blob or layer a live operation takes as present must not look
/// older than it to a concurrent orphan collection.
pub fn touch(p: &Path) {
    if let Ok(f) = File::open(p) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// True if a process with this pid exists.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks existence and permission.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Removes a tree, first granting write permission where a layer made a directory read-only.
pub fn make_writable_and_remove(p: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            // As root this mostly succeeds at once; a chattr'ed file is the rare exception.
            fs::remove_dir_all(p)
        }
    }
}

/// A live operation's mark in `tmp/`, removed when dropped.
#[derive(Debug)]
pub struct Operation {
    path: PathBuf,
}

impl Drop for Operation {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// An flock(2) held until dropped; the kernel releases it if the process dies.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// How long a lock is waited for: long enough for any operation that holds one (a `cp` of a
/// big tree out of a frozen container), short enough that a holder stuck for good is an error
/// naming the lock, not a command that hangs for ever.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

impl Lock {
    /// Waits (at most [`LOCK_WAIT`]) until the exclusive lock on `path` is ours.
    pub fn exclusive(path: &Path) -> Result<Lock> {
        Self::exclusive_within(path, LOCK_WAIT)
    }

    /// [`Lock::exclusive`], waiting at most `wait`; then an `Unavailable` error.
    pub fn exclusive_within(path: &Path, wait: std::time::Duration) -> Result<Lock> {
        use rustix::fs::{flock, FlockOperation};
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx(|| format!("open lock {}", path.display()))?;
        let deadline = std::time::Instant::now() + wait;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            match flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(Error::internal(format!("lock {}: {e}", path.display())));
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::new(
                    crate::error::ErrorKind::Unavailable,
                    format!(
                        "timed out after {} s waiting for {}: another berth process holds it",
                        wait.as_secs(),
                        path.display()
                    ),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }
}

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_via_temp(path, data, true)
}

/// Replaces `path` with `data` atomically (temp file + rename) without waiting for the disk:
/// for files that are rebuilt anyway (bundles, caches) or whose loss on power failure only
/// costs a state refresh, never a corrupt file.
pub fn write_replace(path: &Path, data: &[u8]) -> Result<()> {
    write_via_temp(path, data, false)
}

/// A temp file beside `path` (removed on failure), fsynced when `sync`, renamed over `path`.
fn write_via_temp(path: &Path, data: &[u8], sync: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        random_hex(4)
    ));
    let res = (|| -> std::io::Result<()> {
        // Records hold containers' environment (secrets): root's alone.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        if sync {
            f.sync_data()?;
        }
        fs::rename(&tmp, path)?;
        if sync {
            sync_dir(dir);
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.ctx(|| format!("write {}", path.display()))
}

/// The strings of a JSON array (anything else, and non-string items, count as none).
pub fn json_strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Serialises `value` as JSON into `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::internal(format!("encode {}: {e}", path.display())))?;
    write_atomic(path, &data)
}

/// Reads JSON from `path`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::internal(format!("decode {}: {e}", path.display())))
}

/// `n` random bytes as lower-case hex, from the kernel's CSPRNG.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(k) => filled += k,
            Err(_) => continue,
        }
    }
    hex::encode(buf)
}

/// The current time in Docker's RFC 3339 form with nanoseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's zero time, used for "not yet" timestamps.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_owners_are_read_from_the_right() {
        assert_eq!(temp_owner("create-42-0a1b2c3d4e5f6a7b"), Some(42));
        assert_eq!(temp_owner("build-context-42-0a1b2c3d4e5f6a7b"), Some(42));
        assert_eq!(temp_owner("build-src-7-00"), Some(7));
        assert_eq!(temp_owner("stray"), None);
        assert_eq!(temp_owner("a-b"), None);
    }

    #[test]
    fn the_sweep_keeps_what_live_processes_own() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        let live = root.temp_path("build-context");
        std::fs::create_dir_all(&live).unwrap();
        // A pid that cannot exist (above the kernel's pid_max limit).
        let dead = root.path().join("tmp").join("build-copy-4194305-00ff");
        std::fs::create_dir_all(&dead).unwrap();
        root.sweep_temp();
        assert!(live.exists(), "a live build's files were swept");
        assert!(!dead.exists(), "a dead owner's files stayed");
    }

    #[test]
    fn operations_are_live_until_dropped_or_dead() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        assert!(root.oldest_operation().unwrap().is_none());
        let op = root.begin("pull").unwrap();
        assert!(root.oldest_operation().unwrap().is_some());
        drop(op);
        assert!(root.oldest_operation().unwrap().is_none());
        // A killed operation's mark: its owner is gone, so it holds nothing back.
        fs::write(root.join("tmp/op-pull-4194305-00ff"), "").unwrap();
        assert!(root.oldest_operation().unwrap().is_none());
        root.sweep_temp();
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_held_for_good_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("images");
        let held = Lock::exclusive(&p).unwrap();
        let e = Lock::exclusive_within(&p, std::time::Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Unavailable);
        assert!(
            e.message.contains("images") && e.message.contains("another berth process"),
            "{e}"
        );
        drop(held);
        Lock::exclusive_within(&p, std::time::Duration::from_millis(50)).unwrap();
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_json(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json(&p, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = read_json(&p).unwrap();
        assert_eq!(v["a"], 2);
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn random_hex_has_requested_length() {
        let a = random_hex(32);
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(32));
    }

    #[test]
    fn sweep_keeps_live_and_removes_dead() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        let live = root.temp_path("unpack");
        fs::create_dir_all(&live).unwrap();
        let dead = root.join("tmp/unpack-999999999-abcd");
        fs::create_dir_all(&dead).unwrap();
        root.sweep_temp();
        assert!(live.exists());
        assert!(!dead.exists());
    }
}
