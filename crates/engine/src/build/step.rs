//! One instruction as a step: RUN and COPY/ADD go to their files, the config-only ones are here.

use super::dockerfile::{key_values, shell_words, substitute, Instruction};
use super::stage::Stage;
use super::{ignore, short, BuildRequest};
use crate::error::{Error, Result};
use crate::image::{History, ImageConfig};
use crate::{store, Engine};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

impl Engine {
    /// Runs one instruction of a stage.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
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

    /// A step that changes only the config.
    pub(super) fn config_step(
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
}

/// ARG's words: `NAME=default` or a bare `NAME`.
pub(super) fn key_values_or_name(s: &str) -> Result<Vec<(String, Option<String>)>> {
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
