//! `berth build`.

use super::BuildArgs;
use crate::{CmdResult, Exit};
use anyhow::{anyhow, bail, Context};
use berth_engine::build::{BuildRequest, DockerfileAt};
use berth_engine::reference::Reference;
use berth_engine::Engine;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

/// `berth build`.
pub fn build(engine: &Engine, a: BuildArgs) -> CmdResult {
    if let Some(p) = &a.platform {
        let host = format!("linux/{}", berth_engine::image::config::host_arch());
        if *p != host {
            bail!("--platform {p}: only this host's platform ({host}) can be built");
        }
    }
    let tags = a
        .tag
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut build_args = BTreeMap::new();
    for b in &a.build_arg {
        match b.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // `--build-arg NAME` takes the value from berth's own environment, as Docker does.
            None => std::env::var(b)
                .ok()
                .and_then(|v| build_args.insert(b.clone(), v)),
        };
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    // The context: a directory as it is, or what stdin holds unpacked into a temporary one.
    let tmp = engine.root.temp_path("build-context");
    let _cleanup = Cleanup(tmp.clone());
    let (context, mut dockerfile) = if a.context == "-" {
        std::fs::create_dir_all(&tmp)?;
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        let is_tar = data.len() >= 262 && &data[257..262] == b"ustar";
        let compressed =
            data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        if is_tar || compressed {
            let plain =
                berth_engine::snapshot::unpack::decompress(std::io::BufReader::new(&data[..]))?;
            berth_engine::snapshot::unpack::unpack_layer(plain, &tmp)
                .map_err(|e| anyhow!("invalid build context: {e}"))?;
            (tmp.clone(), None)
        } else {
            std::fs::write(tmp.join("Dockerfile"), &data)?;
            (tmp.clone(), None)
        }
    } else {
        let p = PathBuf::from(&a.context);
        if !p.is_dir() {
            bail!("unable to prepare context: path {:?} not found", a.context);
        }
        (p.canonicalize()?, None)
    };
    if let Some(f) = &a.file {
        // A file the user names on this host is read as it is; any other name is the
        // context's, resolved inside it.
        dockerfile = Some(if f.is_absolute() || f.exists() {
            DockerfileAt::Host(f.clone())
        } else {
            DockerfileAt::Context(f.display().to_string())
        });
    }
    let req = BuildRequest {
        context,
        dockerfile,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels,
        network_mode: a.network.clone(),
        extra_hosts: a.add_host.clone(),
        cache_from: a.cache_from.clone(),
        cancel: None,
    };
    let stdout = std::io::stdout();
    let quiet = a.quiet;
    let mut out = |s: &str| {
        if !quiet {
            let mut o = stdout.lock();
            let _ = o.write_all(s.as_bytes());
            let _ = o.flush();
        }
    };
    match engine.build(&req, &mut out) {
        Ok(id) => {
            if quiet {
                println!("{id}");
            }
            if let Some(f) = &a.iidfile {
                std::fs::write(f, &id).with_context(|| format!("write {}", f.display()))?;
            }
            Ok(0)
        }
        Err(e) => Err(Exit {
            code: 1,
            message: e.message,
        }
        .into()),
    }
}

struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
