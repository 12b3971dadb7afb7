//! Content-addressed blob store: every blob is named by the sha256 of its bytes and becomes
//! visible only after its digest (and size, when known) were verified.

use crate::error::{Error, IoContext, Result};
use crate::store::Root;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// The blob store under `<root>/blobs/sha256`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: Root,
}

/// Splits "sha256:<hex>" into its hex part, refusing anything else (the hex becomes a file name).
pub fn digest_hex(digest: &str) -> Result<&str> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
        Error::invalid(format!(
            "unsupported digest {digest:?}: only sha256 is supported"
        ))
    })?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::invalid(format!("invalid digest {digest:?}")));
    }
    Ok(hex)
}

/// "sha256:<hex>" of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A reader that hashes what passes through it, so a layer's diff id is computed while it is
/// unpacked instead of in a second pass.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// Reads the rest of the stream (tar readers stop at the end-of-archive marker, but the
    /// digest covers every byte) and returns "sha256:<hex>" and the byte count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl ContentStore {
    /// The store of `root`.
    pub fn new(root: &Root) -> Self {
        ContentStore { root: root.clone() }
    }

    /// Where blob `digest` lives.
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    /// True if the blob is present.
    pub fn exists(&self, digest: &str) -> bool {
        self.path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    /// Reads a whole blob and checks its digest (used for small blobs: configs, manifests).
    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.path(digest)?;
        let data = fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::not_found(format!("blob {digest} not found")),
            _ => Error::io(format!("read blob {digest}"), e),
        })?;
        let got = sha256_digest(&data);
        if got != digest {
            return Err(Error::internal(format!(
                "blob {digest} is corrupted: content hashes to {got}"
            )));
        }
        Ok(data)
    }

    /// Opens a blob for streaming.
    pub fn open(&self, digest: &str) -> Result<File> {
        let p = self.path(digest)?;
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::not_found(format!("blob {digest} not found")),
            _ => Error::io(format!("open blob {digest}"), e),
        })
    }

    /// Stores `data` and returns its digest.
    pub fn write(&self, data: &[u8]) -> Result<String> {
        self.ingest(data, None, None).map(|(d, _)| d)
    }

    /// Streams `reader` into the store; fails, keeping nothing, if `expected` digest or size
    /// do not match. Returns the digest and size.
    pub fn ingest<R: Read>(
        &self,
        reader: R,
        expected: Option<&str>,
        size: Option<u64>,
    ) -> Result<(String, u64)> {
        if let Some(d) = expected {
            digest_hex(d)?;
            if self.exists(d) {
                crate::store::touch(&self.path(d)?);
                return Ok((
                    d.to_string(),
                    fs::metadata(self.path(d)?).map(|m| m.len()).unwrap_or(0),
                ));
            }
        }
        let tmp = self.root.temp_path("blob");
        let result = (|| -> Result<(String, u64)> {
            let mut f = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            let mut hr = HashingReader::new(reader);
            io::copy(&mut hr, &mut f).ctx(|| "write blob".into())?;
            f.flush().ctx(|| "write blob".into())?;
            f.sync_data().ctx(|| "sync blob".into())?;
            let (digest, n) = hr.finish().ctx(|| "hash blob".into())?;
            if let Some(want) = expected {
                if want != digest {
                    return Err(Error::invalid(format!(
                        "digest mismatch: expected {want}, got {digest}"
                    )));
                }
            }
            if let Some(want) = size {
                if want != n {
                    return Err(Error::invalid(format!(
                        "size mismatch for {digest}: expected {want} bytes, got {n}"
                    )));
                }
            }
            let dest = self.path(&digest)?;
            fs::rename(&tmp, &dest).ctx(|| format!("store blob {digest}"))?;
            crate::store::sync_dir(&self.root.join("blobs/sha256"));
            Ok((digest, n))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The digests of all blobs stored.
    pub fn list(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.root.join("blobs/sha256")) else {
            return Vec::new();
        };
        rd.flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|n| format!("sha256:{n}"))
            .collect()
    }

    /// Deletes a blob; absent is fine.
    pub fn delete(&self, digest: &str) -> Result<()> {
        match fs::remove_file(self.path(digest)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("delete blob {digest}"), e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        (d, ContentStore::new(&root))
    }

    #[test]
    fn write_then_read_verifies() {
        let (_d, cs) = store();
        let dg = cs.write(b"hello").unwrap();
        assert_eq!(
            dg,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(cs.read(&dg).unwrap(), b"hello");
    }

    #[test]
    fn mismatched_digest_leaves_nothing() {
        let (d, cs) = store();
        let wrong = format!("sha256:{}", "0".repeat(64));
        let e = cs.ingest(&b"hello"[..], Some(&wrong), None).unwrap_err();
        assert!(e.message.contains("digest mismatch"), "{e}");
        assert!(!cs.exists(&wrong));
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn corrupted_blob_is_detected_on_read() {
        let (_d, cs) = store();
        let dg = cs.write(b"hello").unwrap();
        fs::write(cs.path(&dg).unwrap(), b"hellO").unwrap();
        assert!(cs.read(&dg).unwrap_err().message.contains("corrupted"));
    }

    #[test]
    fn bad_digests_refused() {
        let (_d, cs) = store();
        assert!(cs.path("sha256:../../etc/passwd").is_err());
        assert!(cs.path("md5:abc").is_err());
    }
}
