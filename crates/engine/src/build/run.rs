//! RUN: the command in a container of the stage's image, its changes committed as the step's.

use super::dockerfile::Instruction;
use super::scratch::Scratch;
use super::stage::Stage;
use super::BuildRequest;
use crate::container::HostConfig;
use crate::error::{Error, IoContext, Result};
use crate::image::ContainerConfig;
use crate::shim::{read_frame, FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT};
use crate::{CreateRequest, Engine};

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

impl Engine {
    /// RUN.
    pub(super) fn run_step(
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
            build_step: true,
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
}
