//! Entry names cleaned lexically and turned into C paths.

use std::ffi::CString;

/// Why a name could not be cleaned.
pub(super) enum NameError {
    Nul,
    Escape,
}

/// Cleans a name the way Go's `path.Clean` does. We drop leading `/`, `.` and empty
/// components, and fold `..` lexically. Climbing above the root is refused.
pub(super) fn clean_path(raw: &[u8]) -> Result<Vec<&[u8]>, NameError> {
    if raw.contains(&0) {
        return Err(NameError::Nul);
    }
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(NameError::Escape);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Renders raw name bytes for error messages.
pub(super) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds a C path from clean components; "." stands for the root itself.
pub(super) fn join(comps: &[&[u8]]) -> CString {
    if comps.is_empty() {
        return c".".to_owned();
    }
    let mut v = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            v.push(b'/');
        }
        v.extend_from_slice(c);
    }
    // clean_path rejected NUL bytes, so this cannot fail.
    CString::new(v).expect("clean path has no NUL")
}

/// One component as a C string; clean_path already rejected NUL bytes.
pub(super) fn cname(comp: &[u8]) -> CString {
    CString::new(comp).expect("clean component has no NUL")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::UnpackError;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use tar::{EntryType, Header};

    #[test]
    fn dotdot_names_are_refused_and_nothing_escapes() {
        for name in [
            "../escape",
            "../../etc/x",
            "a/../../escape",
            "./../escape",
            "/../escape",
        ] {
            for kind in [EntryType::Regular, EntryType::Directory, EntryType::Symlink] {
                let sb = Sandbox::new();
                let mut l = Layer::new();
                l.file("ok", b"fine");
                let mut h = header(name, kind, 4, 0o644);
                set_link(&mut h, "/");
                let data: &[u8] = if kind == EntryType::Regular {
                    b"evil"
                } else {
                    b""
                };
                h.set_size(data.len() as u64);
                l.add(h, data);
                let err = sb.unpack(&l.finish()).unwrap_err();
                assert!(
                    matches!(err, UnpackError::PathEscape { .. }),
                    "{name}: {err}"
                );
                let msg = err.to_string();
                assert!(msg.starts_with("entry ") && msg.contains(name), "{msg}");
                sb.assert_outer_untouched();
                assert!(sb.p("ok").exists());
            }
        }
    }

    #[test]
    fn pax_and_gnu_long_names_are_cleaned_too() {
        // pax `path` overrides the benign header name.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.pax(&[("path", b"../escape")]);
        l.file("benign", b"x");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
        sb.assert_outer_untouched();

        // pax `linkpath` overrides the benign header link name.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("benign", b"x");
        l.pax(&[("linkpath", b"../../etc/passwd")]);
        l.hardlink("h", "benign");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::LinkEscape { .. }), "{err}");
        sb.assert_outer_untouched();

        // A GNU long name ('L' member) is subject to the same cleaning.
        let sb = Sandbox::new();
        let mut l = Layer::new();
        let long = format!("../{}", "e".repeat(150));
        l.add(
            header(
                "././@LongLink",
                EntryType::GNULongName,
                long.len() as u64 + 1,
                0o644,
            ),
            format!("{long}\0").as_bytes(),
        );
        l.file("benign", b"x");
        let err = sb.unpack(&l.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
        sb.assert_outer_untouched();
    }

    #[test]
    fn absolute_names_land_inside_dest() {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.file("/abs/file", b"a");
        l.dir("/absdir/", 0o755);
        l.file("//double//slash", b"d");
        l.file("./dot/./file", b"o");
        l.file("in/../folded", b"f");
        sb.unpack(&l.finish()).unwrap();
        assert_eq!(fs::read(sb.p("abs/file")).unwrap(), b"a");
        assert!(sb.p("absdir").is_dir());
        assert_eq!(fs::read(sb.p("double/slash")).unwrap(), b"d");
        assert_eq!(fs::read(sb.p("dot/file")).unwrap(), b"o");
        assert_eq!(fs::read(sb.p("folded")).unwrap(), b"f");
        sb.assert_outer_untouched();
        assert!(!Path::new("/abs/file").exists());
    }

    #[test]
    fn long_names_and_link_targets() {
        let sb = Sandbox::new();
        let long_dir = "d".repeat(120);
        let name = format!("{long_dir}/{}", "f".repeat(120));
        let mut b = tar::Builder::new(Vec::new());
        // uid, gid and mtime are left all-NUL on purpose: Go's reader treats them as 0.
        let mut h = Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, &b"long"[..]).unwrap();
        let target = format!("/{name}");
        let mut h = header("", EntryType::Symlink, 0, 0o777);
        b.append_link(&mut h, "sym", &target).unwrap();
        let mut h = header("", EntryType::Link, 0, 0o777);
        b.append_link(&mut h, "hard", &name).unwrap();
        sb.unpack(&b.into_inner().unwrap()).unwrap();
        assert_eq!(fs::read(sb.p(&name)).unwrap(), b"long");
        assert_eq!(fs::read_link(sb.p("sym")).unwrap(), Path::new(&target));
        assert_eq!(lmeta(&sb.p("hard")).ino(), lmeta(&sb.p(&name)).ino());
    }
}
