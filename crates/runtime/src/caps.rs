//! Switching to the container's user and leaving it exactly the spec's capabilities.

use crate::error::StartFailure;
use crate::init::Fail;
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, User};

/// Converts OCI capability names to the `caps` crate's type; names this host's kernel does not
/// know are dropped rather than failing, as runc does.
pub fn to_caps(set: Option<&Capabilities>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in set.into_iter().flatten() {
        if let Some(name) = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
        {
            if let Ok(cap) = name.parse::<Capability>() {
                out.insert(cap);
            }
        }
    }
    out
}

fn err(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail {
        kind: StartFailure::Engine,
        message: format!("{what}: {e}"),
    }
}

/// Drops the bounding set to the spec's, switches uid/gid/groups keeping capabilities across the
/// switch, then sets inheritable, effective, permitted and ambient sets.
pub(crate) fn apply_user_and_caps(
    user: &User,
    caps: Option<&LinuxCapabilities>,
) -> Result<(), Fail> {
    // Only what we hold can be granted; a VM whose bounding set lacks a capability (e.g.
    // CAP_SYS_RESOURCE here) must not make every container fail.
    let held = caps::read(None, CapSet::Bounding).map_err(|e| err("read bounding set", e))?;
    let want = |s: Option<&Capabilities>| -> CapsHashSet {
        to_caps(s).intersection(&held).copied().collect()
    };
    let (bounding, effective, permitted, inheritable, ambient) = match caps {
        Some(c) => (
            want(c.bounding().as_ref()),
            want(c.effective().as_ref()),
            want(c.permitted().as_ref()),
            want(c.inheritable().as_ref()),
            want(c.ambient().as_ref()),
        ),
        None => (
            held.clone(),
            held.clone(),
            held.clone(),
            CapsHashSet::new(),
            CapsHashSet::new(),
        ),
    };
    for cap in held.difference(&bounding) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(|e| err("drop bounding capability", e))?;
    }
    // SAFETY: prctl/setgroups/setresgid/setresuid take plain values and a slice we own.
    unsafe {
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 {
            return Err(err("keepcaps", std::io::Error::last_os_error()));
        }
        let groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
        if libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
            return Err(err("setgroups", std::io::Error::last_os_error()));
        }
        if libc::setresgid(user.gid(), user.gid(), user.gid()) < 0 {
            return Err(err(
                &format!("setgid {}", user.gid()),
                std::io::Error::last_os_error(),
            ));
        }
        if libc::setresuid(user.uid(), user.uid(), user.uid()) < 0 {
            return Err(err(
                &format!("setuid {}", user.uid()),
                std::io::Error::last_os_error(),
            ));
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    caps::set(None, CapSet::Inheritable, &inheritable)
        .map_err(|e| err("set inheritable capabilities", e))?;
    // Effective before permitted: the kernel requires effective to stay within permitted.
    let eff_now: CapsHashSet = effective
        .intersection(&caps::read(None, CapSet::Permitted).unwrap_or_default())
        .copied()
        .collect();
    caps::set(None, CapSet::Effective, &eff_now)
        .map_err(|e| err("set effective capabilities", e))?;
    caps::set(None, CapSet::Permitted, &permitted)
        .map_err(|e| err("set permitted capabilities", e))?;
    caps::set(
        None,
        CapSet::Effective,
        &effective.intersection(&permitted).copied().collect(),
    )
    .map_err(|e| err("set effective capabilities", e))?;
    caps::clear(None, CapSet::Ambient).ok();
    for cap in &ambient {
        caps::raise(None, CapSet::Ambient, *cap).map_err(|e| err("raise ambient capability", e))?;
    }
    Ok(())
}
