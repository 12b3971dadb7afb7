//! `berth build`: Docker's classic builder. Each instruction is a step over an image: RUN runs a
//! real container and commits its changes, COPY/ADD put files into a container's root and commit
//! them, the rest change only the config. Every step's image is remembered under a cache key
//! (parent image + instruction + the content of the files it copies), so an unchanged rebuild
//! reuses every step.

pub mod dockerfile;
mod ignore;

use crate::container::HostConfig;
use crate::content::sha256_digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{ContainerConfig, History, ImageConfig};
use crate::reference::Reference;
use crate::rooted::{self, Rooted};
use crate::shim::{read_frame, FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT};
use crate::{store, CreateRequest, Engine};
use dockerfile::{key_values, shell_words, substitute, Instruction};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// Docker's predefined build arguments, usable without an ARG line.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

struct Stage {
    name: Option<String>,
    image: String,
    cfg: ImageConfig,
    args: BTreeMap<String, String>,
    shell: Vec<String>,
}

impl Stage {
    fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.args.clone();
        for e in self.cfg.config.env.iter().flatten() {
            if let Some((k, x)) = e.split_once('=') {
                v.insert(k.to_string(), x.to_string());
            }
        }
        v
    }
}

fn short(id: &str) -> &str {
    &id[7..19]
}

/// Removes a build container on every way out.
struct Scratch<'a> {
    engine: &'a Engine,
    id: String,
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = self.engine.remove(&self.id, true, true);
    }
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

    fn scratch_image(&self) -> Result<String> {
        let cfg = ImageConfig {
            architecture: crate::image::config::host_arch().into(),
            os: "linux".into(),
            rootfs: crate::image::RootFs {
                typ: "layers".into(),
                diff_ids: vec![],
            },
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
        let _l = self.images.lock()?;
        self.images.put_marked(&bytes, vec![], true)
    }

    fn cache_path(&self, parent: &str, key: &str) -> PathBuf {
        let k = sha256_digest(format!("{parent}\n{key}").as_bytes());
        self.root.join("cache/build").join(&k[7..])
    }

    /// The cached result of step `key` over `parent`, unless the build asks for no cache; with
    /// `--cache-from`, only a result in one of those images' ancestry counts (Docker's rule).
    /// The newest result that still exists wins.
    fn cache_get(&self, req: &BuildRequest, parent: &str, key: &str) -> Option<String> {
        if req.no_cache {
            return None;
        }
        let ids = std::fs::read_to_string(self.cache_path(parent, key)).ok()?;
        ids.lines()
            .rev()
            .filter_map(|id| self.images.get(id.trim()).ok().map(|r| r.id))
            .find(|id| req.cache_from.is_empty() || self.in_ancestry_of(&req.cache_from, id))
    }

    /// Whether image `id` is one of `names`' images or one they were made from here.
    fn in_ancestry_of(&self, names: &[String], id: &str) -> bool {
        names
            .iter()
            .filter_map(|n| self.images.resolve(n).ok())
            .any(|img| {
                // Bounded: a chain is as long as the builds that made it.
                std::iter::successors(Some(img.id), |c| {
                    self.images.get(c).ok().and_then(|r| r.parent)
                })
                .take(10_000)
                .any(|c| c == id)
            })
    }

    /// Records `id` as a result of step `key` over `parent`, after the earlier ones: a build
    /// with `--cache-from` looks for the result its images hold, not only the newest.
    fn cache_put(&self, parent: &str, key: &str, id: &str) {
        /// Results kept per step.
        const KEPT: usize = 16;
        let p = self.cache_path(parent, key);
        let _ = std::fs::create_dir_all(p.parent().unwrap_or(Path::new("/")));
        let old = std::fs::read_to_string(&p).unwrap_or_default();
        let mut ids: Vec<&str> = old.lines().filter(|l| !l.is_empty() && *l != id).collect();
        ids.push(id);
        let keep = ids.len().saturating_sub(KEPT);
        let _ = store::write_replace(&p, ids[keep..].join("\n").as_bytes());
    }

    /// A step that changes only the config.
    fn config_step(
        &self,
        st: &mut Stage,
        what: &str,
        req: &BuildRequest,
        out: &mut dyn FnMut(&str),
        change: impl FnOnce(&mut ImageConfig),
    ) -> Result<()> {
        if let Some(id) = self.cache_get(req, &st.image, what) {
            out(" ---> Using cache\n");
            return self.advance(st, id, out);
        }
        let mut cfg = st.cfg.clone();
        change(&mut cfg);
        let now = store::now_rfc3339();
        cfg.created = Some(now.clone());
        cfg.history.push(History {
            created: Some(now),
            created_by: Some(format!("/bin/sh -c #(nop)  {what}")),
            empty_layer: true,
            ..Default::default()
        });
        let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
        let layers = self.images.get(&st.image)?.layers;
        let id = {
            let _l = self.images.lock()?;
            self.images
                .put_child(&bytes, layers, true, Some(&st.image))?
        };
        self.cache_put(&st.image, what, &id);
        self.advance(st, id, out)
    }

    /// A FROM image: the local one, else (or always with `--pull`) pulled from its registry,
    /// as Docker's classic builder does.
    fn base_image(&self, name: &str, pull: bool, out: &mut dyn FnMut(&str)) -> Result<String> {
        if !pull {
            if let Ok(i) = self.images.resolve(name) {
                return Ok(i.id);
            }
        }
        let reference = Reference::parse(name).map_err(|e| Error::invalid(e.to_string()))?;
        let lines = std::sync::Mutex::new(Vec::new());
        let res = self.pull(&reference, &Default::default(), &|e| match e {
            crate::registry::pull::PullEvent::Status(s) => lines.lock().unwrap().push(s),
            crate::registry::pull::PullEvent::Layer {
                id,
                status,
                progress: None,
            } => lines.lock().unwrap().push(format!("{id}: {status}")),
            _ => {}
        });
        for l in lines.into_inner().unwrap() {
            out(&format!("{l}\n"));
        }
        Ok(res?.id)
    }

    fn advance(&self, st: &mut Stage, id: String, out: &mut dyn FnMut(&str)) -> Result<()> {
        out(&format!(" ---> {}\n", short(&id)));
        st.cfg = self.images.config(&id)?;
        st.image = id;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        st: &mut Stage,
        i: &Instruction,
        req: &BuildRequest,
        global: &BTreeMap<String, String>,
        built: &[Option<String>],
        find_stage: &dyn Fn(&str) -> Option<usize>,
        ignore: &ignore::Patterns,
        out: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let vars = st.vars();
        let sub = |s: &str| substitute(s, &vars, '\\');
        let text = format!("{} {}", i.cmd, sub(&i.rest));
        match i.cmd.as_str() {
            "RUN" => self.run_step(st, i, req, out),
            "COPY" | "ADD" => self.copy_step(st, i, req, built, find_stage, ignore, out),
            "ENV" => {
                let kv = key_values(&i.rest)?
                    .into_iter()
                    .map(|(k, v)| (k, sub(&v)))
                    .collect::<Vec<_>>();
                self.config_step(st, &text, req, out, move |c| {
                    let env = c.config.env.get_or_insert_with(Vec::new);
                    for (k, v) in kv {
                        env.retain(|e| e.split_once('=').map(|x| x.0) != Some(k.as_str()));
                        env.push(format!("{k}={v}"));
                    }
                })
            }
            "ARG" => {
                for (k, v) in key_values_or_name(&i.rest)? {
                    let val = req
                        .build_args
                        .get(&k)
                        .cloned()
                        .or_else(|| v.map(|d| sub(&d)))
                        .or_else(|| global.get(&k).cloned())
                        .unwrap_or_default();
                    st.args.insert(k, val);
                }
                out(&format!(" ---> {}\n", short(&st.image)));
                Ok(())
            }
            "LABEL" => {
                let kv = key_values(&i.rest)?
                    .into_iter()
                    .map(|(k, v)| (sub(&k), sub(&v)))
                    .collect::<Vec<_>>();
                self.config_step(st, &text, req, out, move |c| {
                    let l = c.config.labels.get_or_insert_with(Default::default);
                    for (k, v) in kv {
                        l.insert(k, v);
                    }
                })
            }
            "MAINTAINER" => {
                let who = sub(&i.rest);
                self.config_step(st, &text, req, out, move |c| c.author = Some(who))
            }
            "WORKDIR" => {
                let w = sub(&i.rest);
                self.config_step(st, &text, req, out, move |c| {
                    c.config.working_dir = if w.starts_with('/') {
                        w
                    } else {
                        Path::new(if c.config.working_dir.is_empty() {
                            "/"
                        } else {
                            &c.config.working_dir
                        })
                        .join(w)
                        .display()
                        .to_string()
                    };
                })
            }
            "USER" => {
                let u = sub(&i.rest);
                self.config_step(st, &text, req, out, move |c| c.config.user = u)
            }
            "EXPOSE" => {
                let ports: Vec<String> = sub(&i.rest)
                    .split_whitespace()
                    .map(|p| {
                        if p.contains('/') {
                            p.to_string()
                        } else {
                            format!("{p}/tcp")
                        }
                    })
                    .collect();
                self.config_step(st, &text, req, out, move |c| {
                    let e = c.config.exposed_ports.get_or_insert_with(Default::default);
                    for p in ports {
                        e.insert(p, json!({}));
                    }
                })
            }
            "VOLUME" => {
                let v = sub(&i.rest);
                let list: Vec<String> = serde_json::from_str(&v)
                    .unwrap_or_else(|_| v.split_whitespace().map(String::from).collect());
                self.config_step(st, &text, req, out, move |c| {
                    let vols = c.config.volumes.get_or_insert_with(Default::default);
                    for p in list {
                        vols.insert(p, json!({}));
                    }
                })
            }
            "STOPSIGNAL" => {
                let sig = sub(&i.rest);
                crate::signal::parse(&sig)?;
                self.config_step(st, &text, req, out, move |c| {
                    c.config.stop_signal = Some(sig)
                })
            }
            "CMD" | "ENTRYPOINT" => {
                let argv = i.json.clone().unwrap_or_else(|| {
                    let mut v = st.shell.clone();
                    v.push(i.rest.clone());
                    v
                });
                let is_cmd = i.cmd == "CMD";
                self.config_step(st, &text, req, out, move |c| {
                    if is_cmd {
                        c.config.cmd = Some(argv);
                    } else {
                        c.config.entrypoint = Some(argv);
                    }
                })
            }
            "SHELL" => {
                let argv = i.json.clone().ok_or_else(|| {
                    Error::invalid("SHELL requires the arguments to be in JSON form")
                })?;
                st.shell = argv.clone();
                self.config_step(st, &text, req, out, move |c| c.config.shell = Some(argv))
            }
            "HEALTHCHECK" => {
                let hc = healthcheck(i)?;
                self.config_step(st, &text, req, out, move |c| {
                    c.config.healthcheck = Some(hc)
                })
            }
            "ONBUILD" => {
                let t = i.rest.clone();
                self.config_step(st, &text, req, out, move |c| {
                    c.config.on_build.get_or_insert_with(Vec::new).push(t)
                })
            }
            other => Err(Error::invalid(format!("unknown instruction: {other}"))),
        }
    }

    fn run_step(
        &self,
        st: &mut Stage,
        i: &Instruction,
        req: &BuildRequest,
        out: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let mut argv = match &i.json {
            Some(v) => v.clone(),
            None => {
                let mut v = st.shell.clone();
                v.push(i.rest.clone());
                v
            }
        };
        // A heredoc body is the script itself (`RUN <<EOF`).
        if let Some((_, body)) = i.heredocs.first() {
            argv = st.shell.clone();
            argv.push(body.clone());
        }
        // ARG values reach RUN as environment (only those declared, plus the proxy ones).
        let mut env: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in PREDEFINED_ARGS {
            if let Some(v) = req.build_args.get(*p) {
                env.push(format!("{p}={v}"));
            }
        }
        let key = format!(
            "RUN {}\n{}",
            serde_json::to_string(&argv).unwrap_or_default(),
            env.join("\n")
        );
        if let Some(id) = self.cache_get(req, &st.image, &key) {
            out(" ---> Using cache\n");
            return self.advance(st, id, out);
        }
        let cfg = ContainerConfig {
            cmd: Some(argv.clone()),
            entrypoint: Some(vec![]),
            env: Some(env),
            ..Default::default()
        };
        let hc = HostConfig {
            // Docker's RUN is on the default bridge unless the build names a network mode.
            network_mode: req.network_mode.clone().unwrap_or_else(|| "bridge".into()),
            extra_hosts: (!req.extra_hosts.is_empty()).then(|| req.extra_hosts.clone()),
            log_config: crate::container::LogConfig {
                typ: "none".into(),
                config: Default::default(),
            },
            ..Default::default()
        };
        let cid = self.create(CreateRequest {
            name: None,
            image: st.image.clone(),
            config: cfg,
            host_config: hc,
            mounts: vec![],
        })?;
        let scratch = Scratch {
            engine: self,
            id: cid.clone(),
        };
        out(&format!(" ---> Running in {}\n", &cid[..12]));
        let (mine, theirs) = std::os::unix::net::UnixStream::pair().ctx(|| "socketpair".into())?;
        self.start(&cid, Some(theirs))?;
        let mut r = std::io::BufReader::new(&mine);
        let mut code = 137;
        while let Ok(Some((kind, data))) = read_frame(&mut r) {
            match kind {
                FRAME_STDOUT => out(&String::from_utf8_lossy(&data)),
                // The classic builder shows a RUN's stderr in red, escape codes in the stream.
                FRAME_STDERR => out(&format!(
                    "\x1b[91m{}\x1b[0m",
                    String::from_utf8_lossy(&data)
                )),
                FRAME_EXIT if data.len() == 4 => {
                    code = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                    break;
                }
                _ => {}
            }
        }
        let shown = if i.json.is_some() {
            argv.join(" ")
        } else {
            format!("{} {}", st.shell.join(" "), i.rest)
        };
        if code != 0 {
            return Err(Error::command_failed(
                format!("The command '{shown}' returned a non-zero code: {code}"),
                code.into(),
            ));
        }
        let created_by = if i.json.is_some() {
            format!("RUN {shown}")
        } else {
            shown
        };
        let id = self.commit_scratch(st, scratch, created_by)?;
        out(&format!("Removing intermediate container {}\n", &cid[..12]));
        self.cache_put(&st.image, &key, &id);
        self.advance(st, id, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_step(
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
                let cid = self.create(CreateRequest {
                    image,
                    config: ContainerConfig {
                        cmd: Some(vec!["true".into()]),
                        ..Default::default()
                    },
                    ..Default::default()
                })?;
                let scratch = Scratch {
                    engine: self,
                    id: cid.clone(),
                };
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
        let cid = self.create(CreateRequest {
            image: st.image.clone(),
            config: ContainerConfig {
                cmd: Some(vec!["true".into()]),
                ..Default::default()
            },
            ..Default::default()
        })?;
        let scratch = Scratch {
            engine: self,
            id: cid.clone(),
        };
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

    /// Commits a step's scratch container (its rw layer, the stage's config) as an intermediate
    /// image with one history entry, then removes the container.
    fn commit_scratch(&self, st: &Stage, scratch: Scratch, created_by: String) -> Result<String> {
        let id = self.commit_layer(
            &scratch.id,
            false,
            st.cfg.config.clone(),
            None,
            History {
                created_by: Some(created_by),
                ..Default::default()
            },
            None,
            true,
        )?;
        drop(scratch);
        Ok(id)
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

fn key_values_or_name(s: &str) -> Result<Vec<(String, Option<String>)>> {
    Ok(shell_words(s)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect())
}

/// `HEALTHCHECK [--interval=… --timeout=… --start-period=… --start-interval=… --retries=…] CMD …|NONE`.
fn healthcheck(i: &Instruction) -> Result<Value> {
    if i.rest.trim().eq_ignore_ascii_case("NONE") {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let (word, rest) = i
        .rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| Error::invalid("HEALTHCHECK needs CMD or NONE"))?;
    if !word.eq_ignore_ascii_case("CMD") {
        return Err(Error::invalid(format!(
            "unknown type for HEALTHCHECK: {word}"
        )));
    }
    let rest = rest.trim();
    let test = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => {
            let mut t = vec!["CMD".to_string()];
            t.extend(v);
            t
        }
        Err(_) => vec!["CMD-SHELL".to_string(), rest.to_string()],
    };
    let mut h = json!({"Test": test});
    for (flag, key) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ] {
        if let Some(v) = i.flags.get(flag) {
            h[key] = json!(crate::health::parse_duration(v)
                .map_err(Error::invalid)?
                .as_nanos() as u64);
        }
    }
    if let Some(r) = i.flags.get("retries") {
        h["Retries"] = json!(r
            .parse::<i64>()
            .map_err(|_| Error::invalid(format!("invalid --retries {r}")))?);
    }
    Ok(h)
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

/// One file to copy: a name inside a root, its last component followed or not.
#[derive(Clone, Copy)]
struct Source<'a> {
    root: &'a Rooted,
    rel: &'a str,
    follow: bool,
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

fn add_bytes(
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

fn add_file(
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
        // The size was read before opening: a file that changed meanwhile must not make a
        // header that lies about its body.
        let mut data = Vec::with_capacity(md.len() as usize);
        f.take(md.len())
            .read_to_end(&mut data)
            .ctx(|| format!("read {}", src.rel))?;
        h.set_size(data.len() as u64);
        d.update(&data);
        b.append_data(&mut h, name, &data[..])
            .ctx(|| "write tar".into())
    } else {
        // Sockets, fifos and devices of a context are not copied: reading a fifo would block.
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn add_tree(
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

fn is_archive(root: &Rooted, rel: &str) -> bool {
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
fn add_archive(
    b: &mut tar::Builder<std::fs::File>,
    root: &Rooted,
    rel: &str,
    dest: &str,
    d: &mut sha2::Sha256,
    count: &mut usize,
) -> Result<()> {
    use sha2::Digest;
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
        let mut data = Vec::new();
        e.read_to_end(&mut data).ctx(|| "read archive".into())?;
        feed(d, &name, &h);
        d.update(&data);
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
            _ => b
                .append_data(&mut h, &name, &data[..])
                .ctx(|| "write tar".into())?,
        }
        *count += 1;
    }
    Ok(())
}
