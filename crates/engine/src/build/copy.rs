//! COPY and ADD: the sources written into a tar keyed by its content, unpacked and committed.

use super::copy_tar::{add_archive, add_bytes, add_file, add_tree, is_archive, Source};
use super::dockerfile::{shell_words, substitute, Instruction};
use super::scratch::Scratch;
use super::stage::Stage;
use super::{ignore, outside_context, BuildRequest};
use crate::error::{Error, IoContext, Result};
use crate::rooted::{self, Rooted};
use crate::{store, Engine};
use std::path::{Path, PathBuf};

impl Engine {
    /// COPY and ADD.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy_step(
        &self,
        st: &mut Stage,
        i: &Instruction,
        req: &BuildRequest,
        built: &[Option<String>],
        find_stage: &dyn Fn(&str) -> Option<usize>,
        ignore: &ignore::Patterns,
        out: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let vars = st.vars();
        let mut words = match &i.json {
            Some(v) => v.clone(),
            None => shell_words(&i.rest),
        };
        words = words.iter().map(|w| substitute(w, &vars, '\\')).collect();
        if words.len() < 2 && i.heredocs.is_empty() {
            return Err(Error::invalid(format!(
                "{} requires at least two arguments",
                i.cmd
            )));
        }
        let dest_raw = words.pop().unwrap_or_default();
        let workdir = if st.cfg.config.working_dir.is_empty() {
            "/".to_string()
        } else {
            st.cfg.config.working_dir.clone()
        };
        // Inside the image `..` stops at its root, as Docker cleans the destination.
        let dest = format!(
            "/{}",
            rooted::clean_clamped(&if dest_raw.starts_with('/') {
                dest_raw.clone()
            } else {
                format!("{workdir}/{dest_raw}")
            })
        );
        let dest_is_dir = dest_raw.ends_with('/') || words.len() > 1 || dest_raw == ".";
        let is_add = i.cmd == "ADD";
        // Where sources come from: the context (a `..` out of it refused), or another stage's
        // or image's root file system (copied out first; there `..` stops at its root). Both
        // are read only through a root directory fd, so no symlink leads to the host.
        let tmp = self.root.temp_path("build-src");
        let _cleanup = TempDir(tmp.clone());
        let (src, filter, sources) = match i.flags.get("from") {
            Some(f) => {
                let image = match find_stage(f) {
                    Some(j) => built[j]
                        .clone()
                        .ok_or_else(|| Error::internal("stage order"))?,
                    None => self.images.resolve(f)?.id,
                };
                std::fs::create_dir_all(&tmp).ctx(|| "temp dir".into())?;
                let src = Rooted::open(&tmp).ctx(|| "temp dir".into())?;
                let scratch = Scratch::of_image(self, image)?;
                let cid = scratch.id.clone();
                let mut sources = Vec::new();
                for w in &words {
                    let clean = rooted::clean_clamped(w);
                    let parent = Path::new(&clean)
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    let at = src.create_dirs(&parent, 0o755).ctx(|| "temp dir".into())?;
                    self.copy_from(
                        &cid,
                        &format!("/{clean}"),
                        crate::CopyEnd::Path(&at.path()),
                        true,
                    )?;
                    sources.push(clean);
                }
                drop(scratch);
                (src, None, sources)
            }
            None => {
                let src = Rooted::open(&req.context).ctx(|| "open the build context".into())?;
                let sources = words
                    .iter()
                    .map(|w| rooted::clean_inside(w).ok_or_else(|| outside_context(w)))
                    .collect::<Result<Vec<_>>>()?;
                (src, Some(ignore), sources)
            }
        };
        let chown = match i.flags.get("chown") {
            Some(c) => {
                let rec_user = crate::container::spec::resolve_user(
                    c,
                    self.image_file(&st.image, "/etc/passwd").as_deref(),
                    self.image_file(&st.image, "/etc/group").as_deref(),
                )?;
                Some((rec_user.uid, rec_user.gid))
            }
            None => None,
        };
        let chmod = match i.flags.get("chmod") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| Error::invalid(format!("invalid --chmod value {m}")))?,
            ),
            None => None,
        };
        // The files to copy as a tar rooted at `/`, and a digest of what matters for the cache
        // (names, modes, owners, contents: never mtimes).
        let tar_path = self.root.temp_path("build-copy");
        let _tar_cleanup = TempFile(tar_path.clone());
        let mut b =
            tar::Builder::new(std::fs::File::create(&tar_path).ctx(|| "create tar".into())?);
        let mut digest = sha2_state();
        let mut count = 0;
        for (name, body) in &i.heredocs {
            let target = if dest_is_dir || words.is_empty() {
                format!("{}/{name}", dest.trim_end_matches('/'))
            } else {
                dest.clone()
            };
            add_bytes(
                &mut b,
                &target,
                body.as_bytes(),
                chmod.unwrap_or(0o644),
                chown.unwrap_or((0, 0)),
                &mut digest,
            )?;
            count += 1;
        }
        for (w, clean) in words.iter().zip(&sources) {
            if is_add && (w.starts_with("http://") || w.starts_with("https://")) {
                return Err(Error::invalid(format!("ADD {w}: downloading from a URL needs a network, which this build cannot reach")));
            }
            let matches = expand(&src, clean, filter)?;
            if matches.is_empty() {
                return Err(Error::invalid(format!("COPY failed: file not found in build context or excluded by .dockerignore: stat {w}: file does not exist")));
            }
            for m in matches {
                // The source itself is followed (inside the root), as Docker's builder does.
                let md = src.metadata(&m, true).ctx(|| format!("stat {m}"))?;
                if md.is_dir() {
                    add_tree(
                        &mut b,
                        &src,
                        &m,
                        &dest,
                        filter,
                        chown,
                        chmod,
                        &mut digest,
                        &mut count,
                    )?;
                } else if is_add && is_archive(&src, &m) {
                    add_archive(&mut b, &src, &m, &dest, &mut digest, &mut count)?;
                } else {
                    let base = Path::new(&m)
                        .file_name()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let target = if dest_is_dir || dest_raw.ends_with('/') {
                        format!("{}/{base}", dest.trim_end_matches('/'))
                    } else {
                        dest.clone()
                    };
                    let file = Source {
                        root: &src,
                        rel: &m,
                        follow: true,
                    };
                    add_file(&mut b, file, &target, &md, chown, chmod, &mut digest)?;
                    count += 1;
                }
            }
        }
        b.into_inner().ctx(|| "write tar".into())?;
        let key = format!(
            "{} {:?} {} {}",
            i.cmd,
            i.flags,
            dest,
            hex::encode(sha2::Digest::finalize(digest))
        );
        if let Some(id) = self.cache_get(req, &st.image, &key) {
            out(" ---> Using cache\n");
            return self.advance(st, id, out);
        }
        let scratch = Scratch::of_image(self, st.image.clone())?;
        let cid = scratch.id.clone();
        let tp = tar_path.clone();
        self.with_stopped_root(&cid, move |root| {
            let f = std::fs::File::open(&tp).map_err(|e| e.to_string())?;
            crate::snapshot::unpack::unpack_layer(f, root).map_err(|e| e.to_string())?;
            Ok(())
        })?;
        let created_by = format!("/bin/sh -c #(nop) {} {} files in {dest}", i.cmd, count);
        let id = self.commit_scratch(st, scratch, created_by)?;
        self.cache_put(&st.image, &key, &id);
        self.advance(st, id, out)
    }

    /// A file of an image, read through its layers.
    fn image_file(&self, image: &str, path: &str) -> Option<String> {
        let rec = self.images.get(image).ok()?;
        self.images
            .layers
            .read_file(None, &rec.diff_ids(), path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = store::make_writable_and_remove(&self.0);
    }
}
struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sha2_state() -> sha2::Sha256 {
    <sha2::Sha256 as sha2::Digest>::new()
}

/// The paths (relative, clean) a COPY source names: one path, or every match of a pattern.
fn expand(root: &Rooted, pattern: &str, ignore: Option<&ignore::Patterns>) -> Result<Vec<String>> {
    let pattern = if pattern.is_empty() { "." } else { pattern };
    if !pattern.contains(['*', '?', '[']) {
        if root.metadata(pattern, true).is_err()
            || ignore.is_some_and(|i| pattern != "." && i.ignored(pattern))
        {
            return Ok(vec![]);
        }
        return Ok(vec![pattern.to_string()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let Ok(names) = root.read_dir(if dir.is_empty() { "." } else { &dir }) else {
            continue;
        };
        for n in names {
            let rel = if dir.is_empty() {
                n.to_string_lossy().into_owned()
            } else {
                format!("{dir}/{}", n.to_string_lossy())
            };
            if ignore.is_some_and(|i| i.ignored(&rel)) {
                continue;
            }
            if ignore::glob(pattern, &rel) {
                out.push(rel.clone());
            }
            if root.metadata(&rel, false).is_ok_and(|m| m.is_dir())
                && rel.matches('/').count() < pattern.matches('/').count()
            {
                stack.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}
