//! Docker's rules for what a container runs: the user's `run` settings over the image's
//! config. Pure, so every front end gets the same merge and it is tested without an image.

use crate::error::{Error, Result};
use crate::image::ContainerConfig;
use crate::DEFAULT_PATH;

/// The variable's name: the part before `=`, or all of it (`-e NAME` passes the host's).
fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |x| x.0)
}

/// The image's environment with Docker's default PATH when it sets none, then each of the
/// user's variables replacing the image's of the same name, once.
pub fn merge_env(image: Option<&[String]>, user: Option<&[String]>) -> Vec<String> {
    let mut env = image.map(<[String]>::to_vec).unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    for e in user.into_iter().flatten() {
        env.retain(|x| env_key(x) != env_key(e));
        env.push(e.clone());
    }
    env
}

/// The container's config: `user`'s settings over `image`'s, for the image named `reference`.
/// Refuses what Docker refuses at create: a relative working directory, a stop signal or an
/// exposed port it cannot read, and nothing to run.
pub fn merge_config(
    image: &ContainerConfig,
    user: &ContainerConfig,
    reference: &str,
) -> Result<ContainerConfig> {
    let mut cfg = image.clone();
    cfg.image = reference.to_string();
    if user.entrypoint.is_some() {
        // `--entrypoint ''` arrives as [""]: no entrypoint, as Docker reads it.
        cfg.entrypoint = user
            .entrypoint
            .clone()
            .filter(|e| !e.is_empty() && e != &[String::new()]);
        // A new entrypoint drops the image's command (Docker's rule).
        cfg.cmd = None;
    }
    if user.cmd.is_some() {
        cfg.cmd = user.cmd.clone();
    }
    cfg.env = Some(merge_env(image.env.as_deref(), user.env.as_deref()));
    if !user.user.is_empty() {
        cfg.user = user.user.clone();
    }
    if !user.working_dir.is_empty() {
        if !user.working_dir.starts_with('/') {
            return Err(Error::invalid(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                user.working_dir
            )));
        }
        cfg.working_dir = user.working_dir.clone();
    }
    if let Some(l) = &user.labels {
        cfg.labels
            .get_or_insert_with(Default::default)
            .extend(l.clone());
    }
    if let Some(p) = &user.exposed_ports {
        cfg.exposed_ports
            .get_or_insert_with(Default::default)
            .extend(p.clone());
    }
    if let Some(v) = &user.volumes {
        cfg.volumes
            .get_or_insert_with(Default::default)
            .extend(v.clone());
    }
    // The image's ports as much as the client's: each becomes firewall text with -P.
    for key in cfg.exposed_ports.iter().flat_map(|m| m.keys()) {
        crate::network::parse_port_key(key)?;
    }
    if user.stop_signal.is_some() {
        cfg.stop_signal = user.stop_signal.clone();
    }
    if let Some(s) = &cfg.stop_signal {
        crate::signal::parse(s)?;
    }
    if user.stop_timeout.is_some() {
        cfg.stop_timeout = user.stop_timeout;
    }
    if let Some(h) = &user.healthcheck {
        // The user's settings override the image's field by field; a new test replaces it.
        let mut merged = cfg
            .healthcheck
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        if let (Some(m), Some(o)) = (merged.as_object_mut(), h.as_object()) {
            for (k, v) in o {
                m.insert(k.clone(), v.clone());
            }
        }
        cfg.healthcheck = Some(merged);
    }
    cfg.tty = user.tty;
    cfg.open_stdin = user.open_stdin;
    cfg.stdin_once = user.stdin_once;
    cfg.attach_stdin = user.attach_stdin;
    cfg.attach_stdout = user.attach_stdout;
    cfg.attach_stderr = user.attach_stderr;
    cfg.domainname = user.domainname.clone();
    if command_line(&cfg).is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    Ok(cfg)
}

/// What the container runs: its entrypoint followed by its command.
pub fn command_line(cfg: &ContainerConfig) -> Vec<String> {
    let mut full = cfg.entrypoint.clone().unwrap_or_default();
    full.extend(cfg.cmd.clone().unwrap_or_default());
    full
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn image() -> ContainerConfig {
        ContainerConfig {
            entrypoint: strings(&["/entry"]),
            cmd: strings(&["serve"]),
            env: strings(&["A=1", "PATH=/bin"]),
            working_dir: "/srv".into(),
            ..Default::default()
        }
    }

    #[test]
    fn arguments_replace_the_command_and_keep_the_entrypoint() {
        let user = ContainerConfig {
            cmd: strings(&["sh"]),
            ..Default::default()
        };
        let c = merge_config(&image(), &user, "img").unwrap();
        assert_eq!(command_line(&c), ["/entry", "sh"]);
        assert_eq!(c.image, "img");
        assert_eq!(c.working_dir, "/srv");
    }

    #[test]
    fn a_new_entrypoint_drops_the_images_command_and_an_empty_one_clears_it() {
        let user = ContainerConfig {
            entrypoint: strings(&["/other"]),
            ..Default::default()
        };
        assert_eq!(
            command_line(&merge_config(&image(), &user, "i").unwrap()),
            ["/other"]
        );
        let user = ContainerConfig {
            entrypoint: strings(&[""]),
            cmd: strings(&["ls"]),
            ..Default::default()
        };
        assert_eq!(
            command_line(&merge_config(&image(), &user, "i").unwrap()),
            ["ls"]
        );
        let user = ContainerConfig {
            entrypoint: strings(&[""]),
            ..Default::default()
        };
        let e = merge_config(&image(), &user, "i").unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidArgument, "no command specified")
        );
    }

    #[test]
    fn a_users_variable_replaces_the_images_once_and_path_defaults() {
        let env = merge_env(
            Some(&["A=1".into(), "B=2".into()]),
            Some(&["A=3".into(), "C".into()]),
        );
        assert_eq!(env, [DEFAULT_PATH, "B=2", "A=3", "C"]);
        let env = merge_env(Some(&["PATH=/x".into()]), None);
        assert_eq!(env, ["PATH=/x"]);
    }

    #[test]
    fn what_docker_refuses_at_create_is_refused() {
        for user in [
            ContainerConfig {
                working_dir: "rel".into(),
                ..Default::default()
            },
            ContainerConfig {
                stop_signal: Some("SIGNOPE".into()),
                ..Default::default()
            },
            ContainerConfig {
                exposed_ports: Some([("80/tcp_any {}".to_string(), serde_json::json!({}))].into()),
                ..Default::default()
            },
        ] {
            let e = merge_config(&image(), &user, "i").unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{user:?}: {e}");
        }
    }

    #[test]
    fn a_healthcheck_overrides_the_images_field_by_field() {
        let mut img = image();
        img.healthcheck = Some(serde_json::json!({"Test": ["CMD", "true"], "Interval": 5}));
        let user = ContainerConfig {
            healthcheck: Some(serde_json::json!({"Interval": 9})),
            ..Default::default()
        };
        let c = merge_config(&img, &user, "i").unwrap();
        assert_eq!(
            c.healthcheck.unwrap(),
            serde_json::json!({"Test": ["CMD", "true"], "Interval": 9})
        );
    }
}
