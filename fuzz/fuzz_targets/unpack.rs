//! Layer unpacking: a hostile tar (raw bytes, or entries built with `..`, absolute names, symlinks out of the root, hard links, whiteouts, xattrs) never creates anything outside the scratch root.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use berth_engine::snapshot::unpack::{decompress, unpack_layer};
use libfuzzer_sys::fuzz_target;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Bytes an input may expand to (sparse files and compression make tiny inputs huge): the
/// target stays cheap, and anything larger is the plain size limit's business, not containment's.
const MAX_EXPANDED: u64 = 1 << 20;
const MAX_ENTRIES: usize = 64;

#[derive(Arbitrary, Debug)]
struct Entry {
    kind: Kind,
    name: Name,
    link: Name,
    data: Vec<u8>,
    mode: u16,
    uid: u8,
    xattr: Option<(u8, Vec<u8>)>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    Other(u8),
}

#[derive(Arbitrary, Debug)]
struct Name {
    absolute: bool,
    parts: Vec<Part>,
}

#[derive(Arbitrary, Debug)]
enum Part {
    DotDot,
    Dot,
    Empty,
    Word(u8),
    Whiteout(u8),
    Opaque,
    AufsMeta,
    /// The absolute path of the sentinel directory beside the root.
    Outside,
    Text(String),
}

const WORDS: &[&str] = &["a", "b", "etc", "dir", "link", "file", "passwd"];
const XATTRS: &[&str] = &[
    "user.a",
    "trusted.overlay.opaque",
    "user.overlay.redirect",
    "security.capability",
    "security.selinux",
    "trusted.x",
];

/// The jail: `root` is unpacked into, `outside` is its sibling that must stay empty.
struct Jail {
    dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn jail() -> &'static Jail {
    static JAIL: OnceLock<Jail> = OnceLock::new();
    JAIL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("sentinel");
        Jail { dir, root, outside }
    })
}

fn name(n: &Name, outside: &Path) -> Vec<u8> {
    let mut s = String::new();
    if n.absolute {
        s.push('/');
    }
    for (i, p) in n.parts.iter().take(8).enumerate() {
        if i > 0 {
            s.push('/');
        }
        match p {
            Part::DotDot => s.push_str(".."),
            Part::Dot => s.push('.'),
            Part::Empty => {}
            Part::Word(w) => s.push_str(WORDS[*w as usize % WORDS.len()]),
            Part::Whiteout(w) => {
                s.push_str(".wh.");
                s.push_str(WORDS[*w as usize % WORDS.len()]);
            }
            Part::Opaque => s.push_str(".wh..wh..opq"),
            Part::AufsMeta => s.push_str(".wh..wh.plnk"),
            Part::Outside => s.push_str(outside.to_str().expect("utf-8 temp path")),
            Part::Text(t) => s.push_str(&t.chars().take(16).collect::<String>()),
        }
    }
    s.into_bytes()
}

/// A 512-byte ustar/GNU header with a raw name: the tar crate's builder refuses `..`,
/// which is exactly what a hostile layer carries.
fn header(name: &[u8], link: &[u8], kind: u8, size: u64, mode: u16, uid: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    let octal = |h: &mut [u8], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, u64::from(mode & 0o7777));
    octal(&mut h, 108, 8, u64::from(uid));
    octal(&mut h, 116, 8, u64::from(uid));
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, 1_700_000_000);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    octal(&mut h, 329, 8, 1);
    octal(&mut h, 337, 8, 3);
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn push(out: &mut Vec<u8>, h: [u8; 512], data: &[u8]) {
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // The length prefix counts itself, so find the width that fits.
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

fn build(entries: &[Entry], outside: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries.iter().take(MAX_ENTRIES) {
        let n = name(&e.name, outside);
        let l = name(&e.link, outside);
        let mut pax = Vec::new();
        if n.len() > 100 {
            pax.extend(pax_record("path", &n));
        }
        if l.len() > 100 {
            pax.extend(pax_record("linkpath", &l));
        }
        if let Some((k, v)) = &e.xattr {
            let key = format!("SCHILY.xattr.{}", XATTRS[*k as usize % XATTRS.len()]);
            pax.extend(pax_record(&key, &v[..v.len().min(32)]));
        }
        if !pax.is_empty() {
            push(
                &mut out,
                header(b"pax", b"", b'x', pax.len() as u64, 0o644, 0),
                &pax,
            );
        }
        let kind = match e.kind {
            Kind::File => b'0',
            Kind::Hardlink => b'1',
            Kind::Symlink => b'2',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
            Kind::Other(k) => k,
        };
        let data = if kind == b'0' {
            &e.data[..e.data.len().min(256)]
        } else {
            &[][..]
        };
        push(
            &mut out,
            header(&n, &l, kind, data.len() as u64, e.mode, e.uid),
            data,
        );
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// True when the stream stays small once decompressed and expanded entry by entry.
fn cheap(bytes: &[u8]) -> bool {
    let Ok(plain) = decompress(BufReader::new(bytes)) else {
        return true;
    };
    let mut archive = tar::Archive::new(plain.take(MAX_EXPANDED));
    let Ok(entries) = archive.entries() else {
        return true;
    };
    let mut total = 0u64;
    for (i, e) in entries.enumerate() {
        let Ok(mut e) = e else { return true };
        if i >= 4 * MAX_ENTRIES {
            return false;
        }
        total += std::io::copy(&mut (&mut e).take(MAX_EXPANDED), &mut std::io::sink()).unwrap_or(0);
        if total >= MAX_EXPANDED {
            return false;
        }
    }
    true
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read jail")
        .map(|e| {
            e.expect("jail entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

// An even first byte: the rest is a layer as is (seeds are real tarballs); odd: the rest
// describes entries that are built into a tar with the names a hostile layer would use.
fuzz_target!(|data: &[u8]| {
    let jail = jail();
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let Ok(entries) = Vec::<Entry>::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        build(&entries, &jail.outside)
    };
    if !cheap(&bytes) {
        return;
    }
    let _ = std::fs::remove_dir_all(&jail.root);
    std::fs::create_dir(&jail.root).expect("scratch root");
    // Decompression first, as LayerStore::unpack does; errors are fine, escapes are not.
    if let Ok(plain) = decompress(BufReader::new(&bytes[..])) {
        let _ = unpack_layer(plain, &jail.root);
    }
    assert_eq!(
        names(jail.dir.path()),
        ["outside", "root"],
        "nothing beside the root"
    );
    assert!(
        names(&jail.outside).is_empty(),
        "nothing written through to the sentinel"
    );
    let meta = std::fs::symlink_metadata(&jail.root).expect("root is still there");
    assert!(meta.is_dir(), "the root is still a directory");
});
