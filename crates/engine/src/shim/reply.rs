//! What a start reports, from the starter to the shim and from the shim to the engine: the
//! container's pid and cgroup, or the kind of failure and its message, typed end to end so
//! a front end answers a bad network setting with 400, never 500.

use crate::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// The answer to a start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StarterReply {
    /// The container's init runs as `pid` in the cgroup at `cgroup` (relative to the mount).
    Started {
        /// The container's init.
        pid: i32,
        /// Its cgroup path; empty when it has none of its own.
        cgroup: String,
    },
    /// It did not start.
    Failed {
        /// What sort of failure.
        kind: ErrorKind,
        /// The message for the user.
        message: String,
    },
}

impl StarterReply {
    /// A failure from an engine error.
    pub fn failed(e: &Error) -> StarterReply {
        StarterReply::Failed {
            kind: e.kind,
            message: e.message.clone(),
        }
    }

    /// The bytes sent.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The reply in `bytes`; what cannot be read (a starter or shim that died before it
    /// answered) is an internal failure saying who went silent.
    pub fn decode(bytes: &[u8], who: &str) -> StarterReply {
        serde_json::from_slice(bytes).unwrap_or_else(|_| StarterReply::Failed {
            kind: ErrorKind::Internal,
            message: format!("{who} exited without reporting"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_their_kind_across_the_pipe() {
        for r in [
            StarterReply::Started {
                pid: 42,
                cgroup: "berth/abc".into(),
            },
            StarterReply::failed(&Error::invalid("network bridge: address in use")),
            StarterReply::failed(&Error::new(
                ErrorKind::CommandNotFound,
                "exec: \"x\": not found",
            )),
        ] {
            assert_eq!(StarterReply::decode(&r.encode(), "the shim"), r);
        }
    }

    #[test]
    fn silence_is_an_internal_failure_naming_who() {
        assert_eq!(
            StarterReply::decode(b"", "the container's starter"),
            StarterReply::Failed {
                kind: ErrorKind::Internal,
                message: "the container's starter exited without reporting".into()
            }
        );
    }
}
