//! Docker's mount flags: `-v`, `--mount`, `--tmpfs`, `--volumes-from`, parsed into requests the
//! engine resolves into [`super::MountPoint`]s at create.

use crate::error::{Error, Result};

/// A mount the user asked for, before volumes are created and paths checked.
#[derive(Debug, Clone, PartialEq)]
pub enum MountRequest {
    /// A named volume, or an anonymous one (`name` None).
    Volume {
        /// Volume name.
        name: Option<String>,
        /// Path in the container.
        destination: String,
        /// Read-only.
        readonly: bool,
        /// Skip copying the image's content into a new volume.
        nocopy: bool,
        /// Driver options for a volume created by this mount (`volume-opt`).
        options: Vec<(String, String)>,
    },
    /// A host path.
    Bind {
        /// Host path (absolute).
        source: String,
        /// Path in the container.
        destination: String,
        /// Read-only.
        readonly: bool,
        /// Propagation, e.g. `rprivate`.
        propagation: String,
        /// `-v` creates a missing host directory; `--mount` refuses it.
        create_source: bool,
    },
    /// A tmpfs.
    Tmpfs {
        /// Path in the container.
        destination: String,
        /// Mount options (`size=…`, `mode=…`, …).
        options: Vec<String>,
    },
}

impl MountRequest {
    /// The path in the container.
    pub fn destination(&self) -> &str {
        match self {
            MountRequest::Volume { destination, .. }
            | MountRequest::Bind { destination, .. }
            | MountRequest::Tmpfs { destination, .. } => destination,
        }
    }
}

fn check_destination(d: &str, spec: &str) -> Result<String> {
    if !d.starts_with('/') {
        return Err(Error::invalid(format!("invalid mount config for type \"volume\": invalid mount path: '{d}' mount path must be absolute (in {spec:?})")));
    }
    // "//" is "/" too: trimmed, it would be an empty destination.
    let trimmed = d.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(Error::invalid(format!(
            "invalid specification: destination can't be '/' in '{spec}'"
        )));
    }
    Ok(trimmed.to_string())
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// `-v [SOURCE:]DEST[:OPTIONS]`.
pub fn parse_volume_flag(spec: &str) -> Result<MountRequest> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => (None, *d, ""),
        [s, d] => (Some(*s), *d, ""),
        [s, d, o] => (Some(*s), *d, *o),
        _ => {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if src.is_some_and(str::is_empty) || dst.is_empty() {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{spec}'"
        )));
    }
    let dst = check_destination(dst, spec)?;
    let mut readonly = false;
    let mut nocopy = false;
    let mut propagation = "rprivate".to_string();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "nocopy" => nocopy = true,
            // SELinux relabelling has no meaning without SELinux; accepted like Docker does there.
            "z" | "Z" => {}
            p if PROPAGATIONS.contains(&p) => propagation = p.to_string(),
            other => {
                return Err(Error::invalid(format!(
                    "invalid mode: {other} (in volume specification '{spec}')"
                )))
            }
        }
    }
    Ok(match src {
        None => MountRequest::Volume {
            name: None,
            destination: dst,
            readonly,
            nocopy,
            options: vec![],
        },
        Some(s) if s.starts_with('/') => MountRequest::Bind {
            source: s.to_string(),
            destination: dst,
            readonly,
            propagation,
            create_source: true,
        },
        Some(s) if s.starts_with('.') || s.contains('/') => {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{spec}': a host path must be absolute"
            )))
        }
        Some(name) => {
            crate::volume::validate_name(name)?;
            MountRequest::Volume {
                name: Some(name.to_string()),
                destination: dst,
                readonly,
                nocopy,
                options: vec![],
            }
        }
    })
}

/// `--mount type=volume|bind|tmpfs,src=…,dst=…,readonly,…`.
pub fn parse_mount_flag(spec: &str) -> Result<MountRequest> {
    let mut m = MountFields {
        typ: "volume".to_string(),
        propagation: "rprivate".to_string(),
        ..Default::default()
    };
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field.trim(), None),
        };
        match (k, v) {
            ("type", Some(t)) => m.typ = t.to_string(),
            ("source" | "src", Some(s)) => m.source = Some(s.to_string()),
            ("target" | "destination" | "dst", Some(d)) => m.target = Some(d.to_string()),
            ("readonly" | "ro", None) => m.readonly = true,
            ("readonly" | "ro", Some(b)) => m.readonly = matches!(b, "true" | "1"),
            ("volume-nocopy", None) => m.nocopy = true,
            ("volume-nocopy", Some(b)) => m.nocopy = matches!(b, "true" | "1"),
            ("bind-propagation", Some(p)) if PROPAGATIONS.contains(&p) => {
                m.propagation = p.to_string()
            }
            ("volume-opt", Some(o)) => {
                let (k, v) = o.split_once('=').ok_or_else(|| {
                    Error::invalid(format!("invalid volume-opt '{o}' in --mount {spec}"))
                })?;
                m.volume_options.push((k.to_string(), v.to_string()));
            }
            ("tmpfs-size", Some(s)) => m.tmpfs_size = Some(crate::logs::parse_size(s)? as i64),
            ("tmpfs-mode", Some(md)) => m.tmpfs_mode = Some(md.to_string()),
            ("consistency", _) | ("volume-driver", Some("local")) => {}
            _ => {
                return Err(Error::invalid(format!(
                    "invalid field '{field}' in --mount {spec}"
                )))
            }
        }
    }
    m.into_request(spec)
}

/// One mount as its fields: what `--mount` spells out and the API's `HostConfig.Mounts`
/// carries, checked in one place by [`MountFields::into_request`].
#[derive(Debug, Clone, Default)]
pub struct MountFields {
    /// `volume`, `bind` or `tmpfs`.
    pub typ: String,
    /// A volume's name or a bind's host path.
    pub source: Option<String>,
    /// The path in the container.
    pub target: Option<String>,
    /// Read-only.
    pub readonly: bool,
    /// Skip copying the image's content into a new volume.
    pub nocopy: bool,
    /// A bind's propagation (default `rprivate`).
    pub propagation: String,
    /// Driver options of a volume this mount creates.
    pub volume_options: Vec<(String, String)>,
    /// A tmpfs's size in bytes.
    pub tmpfs_size: Option<i64>,
    /// A tmpfs's mode (octal).
    pub tmpfs_mode: Option<String>,
}

impl MountFields {
    /// Checks the fields and makes the request; `spec` names the mount in errors.
    pub fn into_request(self, spec: &str) -> Result<MountRequest> {
        if !PROPAGATIONS.contains(&self.propagation.as_str()) && !self.propagation.is_empty() {
            return Err(Error::invalid(format!(
                "invalid propagation mode {:?} in mount {spec}",
                self.propagation
            )));
        }
        let mut tmpfs = Vec::new();
        if let Some(s) = self.tmpfs_size.filter(|s| *s > 0) {
            tmpfs.push(format!("size={s}"));
        }
        if let Some(md) = &self.tmpfs_mode {
            tmpfs.push(format!("mode={md}"));
        }
        let (typ, src, dst, readonly, nocopy, vopts) = (
            self.typ,
            self.source.filter(|s| !s.is_empty()),
            self.target,
            self.readonly,
            self.nocopy,
            self.volume_options,
        );
        let propagation = if self.propagation.is_empty() {
            "rprivate".to_string()
        } else {
            self.propagation
        };
        let dst = check_destination(
            &dst.ok_or_else(|| {
                Error::invalid(format!(
                    "invalid argument \"{spec}\" for \"--mount\" flag: target is required"
                ))
            })?,
            spec,
        )?;
        Ok(match typ.as_str() {
            "volume" => {
                if let Some(n) = &src {
                    crate::volume::validate_name(n)?;
                }
                MountRequest::Volume {
                    name: src,
                    destination: dst,
                    readonly,
                    nocopy,
                    options: vopts,
                }
            }
            "bind" => {
                let s = src.ok_or_else(|| Error::invalid(format!("invalid mount config for type \"bind\": field Source must not be empty (in {spec})")))?;
                if !s.starts_with('/') {
                    return Err(Error::invalid(format!("invalid mount config for type \"bind\": invalid mount path: '{s}' mount path must be absolute")));
                }
                MountRequest::Bind {
                    source: s,
                    destination: dst,
                    readonly,
                    propagation,
                    create_source: false,
                }
            }
            "tmpfs" => {
                if src.is_some() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"tmpfs\": field Source must be empty",
                    ));
                }
                if readonly {
                    tmpfs.push("ro".into());
                }
                check_tmpfs_options(&tmpfs)?;
                MountRequest::Tmpfs {
                    destination: dst,
                    options: tmpfs,
                }
            }
            other => {
                return Err(Error::invalid(format!(
                    "invalid mount type {other:?} (volume, bind or tmpfs)"
                )))
            }
        })
    }
}

/// `--tmpfs DEST[:OPTIONS]`.
pub fn parse_tmpfs_flag(spec: &str) -> Result<MountRequest> {
    let (d, o) = spec.split_once(':').unwrap_or((spec, ""));
    let options: Vec<String> = o
        .split(',')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    check_tmpfs_options(&options)?;
    Ok(MountRequest::Tmpfs {
        destination: check_destination(d, spec)?,
        options,
    })
}

/// Refuses tmpfs options that are not tmpfs's: `bind`, `remount` and the like would turn the
/// mount into something else entirely (a bind of a relative path, a remount of the host's).
pub fn check_tmpfs_options(options: &[String]) -> Result<()> {
    const FLAGS: &[&str] = &[
        "ro",
        "rw",
        "exec",
        "noexec",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "sync",
        "async",
        "dirsync",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "tmpcopyup",
        "notmpcopyup",
    ];
    const VALUED: &[&str] = &[
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
    ];
    for o in options {
        let ok = match o.split_once('=') {
            Some((k, v)) => VALUED.contains(&k) && !v.is_empty() && !v.contains(','),
            None => FLAGS.contains(&o.as_str()),
        };
        if !ok {
            return Err(Error::invalid(format!("invalid tmpfs option {o:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_of_slashes_is_the_root_and_refused() {
        // Found by the mount_options fuzz target: "//" became the empty destination.
        for spec in ["//", "v://", "/h:///:ro"] {
            assert!(parse_volume_flag(spec).is_err(), "{spec}");
        }
        assert!(parse_tmpfs_flag("//:size=1m").is_err());
        assert!(parse_mount_flag("type=bind,src=/h,dst=//").is_err());
        assert_eq!(
            parse_tmpfs_flag("/run//").unwrap().destination(),
            "/run",
            "trailing slashes still go"
        );
    }

    #[test]
    fn tmpfs_options_are_tmpfs_options() {
        assert!(parse_tmpfs_flag("/t:size=1m,mode=1777,noexec").is_ok());
        for bad in [
            "/t:bind",
            "/t:rbind",
            "/t:remount",
            "/t:size=",
            "/t:context=x",
        ] {
            assert!(parse_tmpfs_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volume_flags() {
        assert_eq!(
            parse_volume_flag("data:/srv/data:ro").unwrap(),
            MountRequest::Volume {
                name: Some("data".into()),
                destination: "/srv/data".into(),
                readonly: true,
                nocopy: false,
                options: vec![]
            }
        );
        assert_eq!(
            parse_volume_flag("/cache").unwrap(),
            MountRequest::Volume {
                name: None,
                destination: "/cache".into(),
                readonly: false,
                nocopy: false,
                options: vec![]
            }
        );
        assert!(matches!(
            parse_volume_flag("/host:/in:rw,z").unwrap(),
            MountRequest::Bind {
                create_source: true,
                readonly: false,
                ..
            }
        ));
        assert!(parse_volume_flag("rel/path:/x").is_err());
        assert!(parse_volume_flag("data:relative").is_err());
        assert!(parse_volume_flag("data:/x:bogus").is_err());
        assert!(parse_volume_flag("a:b:c:d").is_err());
        assert!(parse_volume_flag("data:/").is_err());
    }

    #[test]
    fn mount_flags() {
        assert!(matches!(
            parse_mount_flag("type=bind,src=/h,dst=/c,readonly").unwrap(),
            MountRequest::Bind {
                readonly: true,
                create_source: false,
                ..
            }
        ));
        assert_eq!(
            parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap(),
            MountRequest::Tmpfs {
                destination: "/t".into(),
                options: vec!["size=1048576".into()]
            }
        );
        assert_eq!(
            parse_mount_flag("src=v1,target=/v").unwrap(),
            MountRequest::Volume {
                name: Some("v1".into()),
                destination: "/v".into(),
                readonly: false,
                nocopy: false,
                options: vec![]
            }
        );
        assert!(parse_mount_flag("type=bind,dst=/c").is_err());
        assert!(parse_mount_flag("type=nfs,dst=/c").is_err());
        assert!(parse_mount_flag("src=v").is_err());
        assert_eq!(
            parse_tmpfs_flag("/run:size=64m,mode=1777").unwrap(),
            MountRequest::Tmpfs {
                destination: "/run".into(),
                options: vec!["size=64m".into(), "mode=1777".into()]
            }
        );
    }
}
