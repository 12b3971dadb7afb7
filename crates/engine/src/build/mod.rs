//! `berth build`: Docker's classic builder. Each instruction is a step over an image: RUN runs a
//! real container and commits its changes, COPY/ADD put files into a container's root and commit
//! them, the rest change only the config. Every step's image is remembered under a cache key
//! (parent image + instruction + the content of the files it copies), so an unchanged rebuild
//! reuses every step.

mod cache;
mod copy;
mod copy_tar;
pub mod dockerfile;
pub mod ignore;
mod run;
mod scratch;
mod stage;
mod step;

use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::rooted::{self, Rooted};
use crate::Engine;
use dockerfile::{shell_words, substitute, Instruction};
use stage::Stage;
use std::collections::BTreeMap;
use std::path::PathBuf;
use step::key_values_or_name;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `Dockerfile` in the context).
    pub dockerfile: Option<DockerfileAt>,
    /// Names for the result.
    pub tags: Vec<Reference>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// Pull FROM images even when they are here (`--pull`).
    pub pull: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network`: RUN's network mode (default: the default bridge, as Docker's).
    pub network_mode: Option<String>,
    /// `--add-host`: extra /etc/hosts lines of RUN's containers.
    pub extra_hosts: Vec<String>,
    /// `--cache-from`: only these images (and what they were made from) serve as cache.
    pub cache_from: Vec<String>,
    /// Set when the caller went away (an API client that closed its connection): the build
    /// stops before its next step, leaving no containers behind.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Where the Dockerfile is.
#[derive(Debug, Clone)]
pub enum DockerfileAt {
    /// A name inside the context, resolved inside it (the API's `dockerfile`, a relative `-f`).
    Context(String),
    /// A file the caller names on its own host (`-f /elsewhere/Dockerfile`).
    Host(PathBuf),
}

/// Docker's refusal of a context path that `..` leads out of.
fn outside_context(name: &str) -> Error {
    Error::invalid(format!(
        "forbidden path outside the build context: {name} ()"
    ))
}

/// The 12-hex id Docker prints for an image or container.
fn short(id: &str) -> &str {
    &id[7..19]
}

impl Engine {
    /// Builds an image from a Dockerfile, reporting progress lines through `out`; returns the
    /// image id.
    pub fn build(&self, req: &BuildRequest, out: &mut dyn FnMut(&str)) -> Result<String> {
        self.build_reporting(req, out, &mut |_| {})
    }

    /// [`Engine::build`], telling `done` the image id once it exists, before the closing
    /// `Successfully built`/`tagged` lines (where dockerd sends its `aux` id).
    pub fn build_reporting(
        &self,
        req: &BuildRequest,
        out: &mut dyn FnMut(&str),
        done: &mut dyn FnMut(&str),
    ) -> Result<String> {
        let _op = self.root.begin("build")?;
        let context = Rooted::open(&req.context).ctx(|| "open the build context".into())?;
        let (shown, bytes) = match &req.dockerfile {
            Some(DockerfileAt::Host(p)) => (p.display().to_string(), std::fs::read(p)),
            Some(DockerfileAt::Context(name)) => {
                let rel = rooted::clean_inside(name).ok_or_else(|| outside_context(name))?;
                (name.clone(), context.read(&rel))
            }
            None => ("Dockerfile".to_string(), context.read("Dockerfile")),
        };
        let text = bytes
            .and_then(|b| String::from_utf8(b).map_err(std::io::Error::other))
            .map_err(|e| Error::invalid(format!("failed to read Dockerfile {shown}: {e}")))?;
        let ins = dockerfile::parse(&text)?;
        let ignore = ignore::Patterns::load(&context)?;

        // Stages: global ARGs, then one list of instructions per FROM.
        let mut global: BTreeMap<String, String> = BTreeMap::new();
        let mut stages: Vec<(Instruction, Vec<Instruction>)> = Vec::new();
        for i in ins {
            if i.cmd == "FROM" {
                stages.push((i, Vec::new()));
            } else if let Some(s) = stages.last_mut() {
                s.1.push(i);
            } else {
                for (k, v) in key_values_or_name(&i.rest)? {
                    let val = req.build_args.get(&k).cloned().or(v).unwrap_or_default();
                    global.insert(k, val);
                }
            }
        }
        let stage_name = |from: &Instruction| -> Option<String> {
            let w = shell_words(&from.rest);
            (w.len() == 3 && w[1].eq_ignore_ascii_case("as")).then(|| w[2].to_ascii_lowercase())
        };
        let names: Vec<Option<String>> = stages.iter().map(|(f, _)| stage_name(f)).collect();
        let target = match &req.target {
            Some(t) => names
                .iter()
                .position(|n| n.as_deref() == Some(t.to_ascii_lowercase().as_str()))
                .ok_or_else(|| {
                    Error::invalid(format!("target stage \"{t}\" could not be found"))
                })?,
            None => stages.len() - 1,
        };
        let find_stage = |r: &str, before: usize| -> Option<usize> {
            names[..before]
                .iter()
                .position(|n| n.as_deref() == Some(r.to_ascii_lowercase().as_str()))
                .or_else(|| r.parse::<usize>().ok().filter(|i| *i < before))
        };
        // Only the stages the target needs run.
        let mut needed = vec![false; stages.len()];
        needed[target] = true;
        for i in (0..=target).rev() {
            if !needed[i] {
                continue;
            }
            let base = substitute(
                shell_words(&stages[i].0.rest)
                    .first()
                    .map(String::as_str)
                    .unwrap_or(""),
                &global,
                '\\',
            );
            if let Some(j) = find_stage(&base, i) {
                needed[j] = true;
            }
            for step in &stages[i].1 {
                if let Some(f) = step.flags.get("from") {
                    if let Some(j) = find_stage(f, i) {
                        needed[j] = true;
                    }
                }
            }
        }
        let total: usize = stages
            .iter()
            .enumerate()
            .filter(|(i, _)| needed[*i])
            .map(|(_, s)| 1 + s.1.len())
            .sum();
        let mut n = 0;
        let mut built: Vec<Option<String>> = vec![None; stages.len()];
        let mut last = String::new();
        for (si, (from, steps)) in stages.iter().enumerate() {
            if !needed[si] {
                continue;
            }
            n += 1;
            out(&format!("Step {n}/{total} : {}\n", from.original));
            let words = shell_words(&from.rest);
            let base_ref = substitute(
                words.first().map(String::as_str).unwrap_or(""),
                &global,
                '\\',
            );
            let base = if let Some(j) = find_stage(&base_ref, si) {
                built[j]
                    .clone()
                    .ok_or_else(|| Error::internal("stage order"))?
            } else if base_ref == "scratch" {
                self.scratch_image()?
            } else {
                self.base_image(&base_ref, req.pull, out)?
            };
            let cfg = self.images.config(&base)?;
            out(&format!(" ---> {}\n", short(&base)));
            let mut st = Stage {
                name: names[si].clone(),
                image: base,
                cfg,
                args: BTreeMap::new(),
                shell: vec!["/bin/sh".into(), "-c".into()],
            };
            // The base's ONBUILD triggers run first, as instructions of this stage; the image
            // made here does not carry them on (Docker's rule).
            if let Some(triggers) = st.cfg.config.on_build.take().filter(|t| !t.is_empty()) {
                out(&format!(
                    " # Executing {} build trigger{}\n",
                    triggers.len(),
                    if triggers.len() == 1 { "" } else { "s" }
                ));
                for t in &triggers {
                    for step in dockerfile::parse_instructions(t)? {
                        if matches!(step.cmd.as_str(), "FROM" | "ONBUILD" | "MAINTAINER") {
                            return Err(Error::invalid(format!(
                                "{} isn't allowed as an ONBUILD trigger",
                                step.cmd
                            )));
                        }
                        self.step(
                            &mut st,
                            &step,
                            req,
                            &global,
                            &built,
                            &|r: &str| find_stage(r, si),
                            &ignore,
                            out,
                        )?;
                    }
                }
            }
            for step in steps {
                if req
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                {
                    return Err(Error::conflict(
                        "the build was cancelled: its client went away",
                    ));
                }
                n += 1;
                out(&format!("Step {n}/{total} : {}\n", step.original));
                self.step(
                    &mut st,
                    step,
                    req,
                    &global,
                    &built,
                    &|r: &str| find_stage(r, si),
                    &ignore,
                    out,
                )?;
            }
            built[si] = Some(st.image.clone());
            let _ = &st.name;
            if si == target {
                if !req.labels.is_empty() {
                    let labels = req.labels.clone();
                    self.config_step(&mut st, "LABEL (--label)", req, out, move |c| {
                        c.config
                            .labels
                            .get_or_insert_with(Default::default)
                            .extend(labels);
                    })?;
                }
                last = st.image.clone();
                break;
            }
        }
        // The result is a real image now, not a cache entry.
        let cfg_bytes = self.images.content.read(&last)?;
        let rec = self.images.get(&last)?;
        let _l = self.images.lock()?;
        self.images.put_marked(&cfg_bytes, rec.layers, false)?;
        for t in &req.tags {
            self.images.tag_locked(&last, t)?;
        }
        drop(_l);
        done(&last);
        out(&format!("Successfully built {}\n", short(&last)));
        for t in &req.tags {
            out(&format!("Successfully tagged {}\n", t.familiar()));
        }
        Ok(last)
    }
}
