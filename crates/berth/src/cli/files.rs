//! Files in and out of containers: diff, export, commit, cp.

use super::{CommitArgs, ContainerArg, CpArgs, ExportArgs};
use crate::CmdResult;
use anyhow::{bail, Context};
use berth_engine::reference::Reference;
use berth_engine::{CommitRequest, CopyEnd, Engine};
use std::os::fd::AsRawFd;
use std::path::Path;

/// `berth diff`.
pub fn diff(engine: &Engine, a: ContainerArg) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    for (c, p) in engine.diff(&id)? {
        println!("{} {p}", c.letter());
    }
    Ok(0)
}

/// Writes `path` through a temp file beside it, renamed into place on success, so a failed
/// `save`/`export -o` leaves no truncated archive.
pub fn write_aside(
    path: &std::path::Path,
    write: impl FnOnce(std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let res = std::fs::File::create(&tmp)
        .with_context(|| format!("create {}", tmp.display()))
        .and_then(write)
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
        });
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Docker refuses to write an archive to a terminal.
pub fn refuse_terminal() -> anyhow::Result<()> {
    if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    Ok(())
}

/// `berth export`.
pub fn export(engine: &Engine, a: ExportArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    match &a.output {
        Some(p) => write_aside(p, |f| Ok(engine.export(&id, f.as_raw_fd())?))?,
        None => {
            refuse_terminal()?;
            engine.export(&id, 1)?;
        }
    }
    Ok(0)
}

/// `berth commit`.
pub fn commit(engine: &Engine, a: CommitArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let reference = a.reference.as_deref().map(Reference::parse).transpose()?;
    let req = CommitRequest {
        reference,
        message: a.message,
        author: a.author,
        changes: a.change,
        pause: a.pause,
    };
    println!("{}", engine.commit(&id, &req)?);
    Ok(0)
}

/// Splits `CONTAINER:PATH` (Docker's rule: a colon before any slash, and not a path that
/// starts with `/` or `.`).
fn container_path(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    (!c.contains('/') && !c.is_empty()).then_some((c, p))
}

/// `berth cp`.
pub fn cp(engine: &Engine, a: CpArgs) -> CmdResult {
    match (container_path(&a.src), container_path(&a.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((c, p)), None) => {
            let id = engine.resolve(c)?;
            let dest = if a.dest == "-" {
                CopyEnd::Tar(1)
            } else {
                CopyEnd::Path(Path::new(&a.dest))
            };
            engine.copy_from(&id, if p.is_empty() { "/" } else { p }, dest, a.follow_link)?;
        }
        (None, Some((c, p))) => {
            let id = engine.resolve(c)?;
            let src = if a.src == "-" {
                CopyEnd::Tar(0)
            } else {
                CopyEnd::Path(Path::new(&a.src))
            };
            engine.copy_to(&id, src, if p.is_empty() { "/" } else { p }, a.archive)?;
        }
    }
    Ok(0)
}
