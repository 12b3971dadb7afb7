//! The tar a COPY/ADD writes, each entry also fed to the digest its cache key is made of.

use super::ignore;
use crate::error::{IoContext, Result};
use crate::rooted::Rooted;
use std::io::Read;

/// One file to copy: a name inside a root, its last component followed or not.
#[derive(Clone, Copy)]
pub(super) struct Source<'a> {
    /// The root it is read through.
    pub(super) root: &'a Rooted,
    /// Its name inside the root.
    pub(super) rel: &'a str,
    /// Whether a symlink as its last component is followed.
    pub(super) follow: bool,
}

fn header_for(
    md: &std::fs::Metadata,
    chown: Option<(u32, u32)>,
    chmod: Option<u32>,
) -> tar::Header {
    use std::os::unix::fs::MetadataExt;
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    let (u, g) = chown.unwrap_or((0, 0));
    h.set_uid(u as u64);
    h.set_gid(g as u64);
    if let Some(m) = chmod {
        h.set_mode(m);
    } else {
        h.set_mode(md.mode() & 0o7777);
    }
    h
}

fn feed(d: &mut sha2::Sha256, name: &str, h: &tar::Header) {
    use sha2::Digest;
    d.update(name.as_bytes());
    d.update(
        format!(
            "|{:o}|{}|{}|{}\n",
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            h.size().unwrap_or(0)
        )
        .as_bytes(),
    );
}

/// A file made of `data` (a heredoc body).
pub(super) fn add_bytes(
    b: &mut tar::Builder<std::fs::File>,
    target: &str,
    data: &[u8],
    mode: u32,
    owner: (u32, u32),
    d: &mut sha2::Sha256,
) -> Result<()> {
    use sha2::Digest;
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(owner.0 as u64);
    h.set_gid(owner.1 as u64);
    h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    let name = target.trim_start_matches('/');
    feed(d, name, &h);
    d.update(data);
    b.append_data(&mut h, name, data).ctx(|| "write tar".into())
}

/// One file or symlink of a root.
pub(super) fn add_file(
    b: &mut tar::Builder<std::fs::File>,
    src: Source<'_>,
    target: &str,
    md: &std::fs::Metadata,
    chown: Option<(u32, u32)>,
    chmod: Option<u32>,
    d: &mut sha2::Sha256,
) -> Result<()> {
    use sha2::Digest;
    let mut h = header_for(md, chown, chmod);
    let name = target.trim_start_matches('/');
    if md.file_type().is_symlink() {
        feed(d, name, &h);
        let t = src
            .root
            .read_link(src.rel)
            .ctx(|| format!("read link {}", src.rel))?;
        d.update(t.as_os_str().as_encoded_bytes());
        b.append_link(&mut h, name, t).ctx(|| "write tar".into())
    } else if md.is_file() {
        feed(d, name, &h);
        let f = src
            .root
            .open_read(src.rel, src.follow)
            .ctx(|| format!("read {}", src.rel))?;
        // The size was read before opening: streamed (never whole in memory) and exactly
        // that long, so a file that changes meanwhile cannot make the header lie.
        h.set_size(md.len());
        let body = Hashed {
            inner: f.take(md.len()),
            d,
            left: md.len(),
        };
        b.append_data(&mut h, name, body)
            .ctx(|| format!("read {}", src.rel))
    } else {
        // Sockets, fifos and devices of a context are not copied: reading a fifo would block.
        Ok(())
    }
}

/// A directory of a root and all below it that the ignore patterns let through.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_tree(
    b: &mut tar::Builder<std::fs::File>,
    root: &Rooted,
    dir: &str,
    dest: &str,
    ignore: Option<&ignore::Patterns>,
    chown: Option<(u32, u32)>,
    chmod: Option<u32>,
    d: &mut sha2::Sha256,
    count: &mut usize,
) -> Result<()> {
    for n in root.read_dir(dir).ctx(|| format!("read {dir}"))? {
        let name = n.to_string_lossy();
        let rel = if dir.is_empty() || dir == "." {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        let target = format!("{}/{name}", dest.trim_end_matches('/'));
        let md = root.metadata(&rel, false).ctx(|| format!("stat {rel}"))?;
        if ignore.is_some_and(|i| i.ignored(&rel)) {
            // An ignored directory is still walked when an exception may match inside it;
            // the directories of what comes back are made as the tar's implied parents.
            if md.is_dir() && ignore.is_some_and(|i| i.may_except_under(&rel)) {
                add_tree(b, root, &rel, &target, ignore, chown, chmod, d, count)?;
            }
            continue;
        }
        if md.is_dir() {
            let mut h = header_for(&md, chown, chmod);
            h.set_size(0);
            feed(d, &target, &h);
            b.append_data(&mut h, target.trim_start_matches('/'), std::io::empty())
                .ctx(|| "write tar".into())?;
            add_tree(b, root, &rel, &target, ignore, chown, chmod, d, count)?;
        } else {
            let file = Source {
                root,
                rel: &rel,
                follow: false,
            };
            add_file(b, file, &target, &md, chown, chmod, d)?;
            *count += 1;
        }
    }
    Ok(())
}

/// Whether a file is one ADD unpacks (gzip, zstd, or tar).
pub(super) fn is_archive(root: &Rooted, rel: &str) -> bool {
    let mut head = [0u8; 262];
    let Ok(mut f) = root.open_read(rel, true) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

/// ADD of a local archive: its entries land under `dest`.
pub(super) fn add_archive(
    b: &mut tar::Builder<std::fs::File>,
    root: &Rooted,
    rel: &str,
    dest: &str,
    d: &mut sha2::Sha256,
    count: &mut usize,
) -> Result<()> {
    let f = std::io::BufReader::new(root.open_read(rel, true).ctx(|| format!("open {rel}"))?);
    let plain = crate::snapshot::unpack::decompress(f).ctx(|| "read archive".into())?;
    let mut ar = tar::Archive::new(plain);
    for e in ar.entries().ctx(|| "read archive".into())? {
        let mut e = e.ctx(|| "read archive".into())?;
        let path = e
            .path()
            .ctx(|| "read archive".into())?
            .display()
            .to_string();
        let name = format!(
            "{}/{}",
            dest.trim_end_matches('/'),
            path.trim_start_matches("./").trim_start_matches('/')
        )
        .trim_start_matches('/')
        .to_string();
        let mut h = e.header().clone();
        feed(d, &name, &h);
        match e.header().entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let t = e
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|x| x.into_owned())
                    .unwrap_or_default();
                b.append_link(&mut h, &name, t).ctx(|| "write tar".into())?;
            }
            _ => {
                let left = e.size();
                let body = Hashed {
                    inner: &mut e,
                    d,
                    left,
                };
                b.append_data(&mut h, &name, body)
                    .ctx(|| "read archive".into())?
            }
        }
        *count += 1;
    }
    Ok(())
}

/// A file's bytes on their way into the tar, hashed as they pass, exactly `left` of them: a
/// source that ends early is an error, never a short body under a longer header.
struct Hashed<'a, R> {
    inner: R,
    d: &'a mut sha2::Sha256,
    left: u64,
}

impl<R: Read> Read for Hashed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        if self.left == 0 {
            return Ok(0);
        }
        let cap = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was copied",
            ));
        }
        self.d.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}
