//! `-f key=value` flags as the pairs the engine's list rules read.

use anyhow::anyhow;

/// Each `key=value` flag as a pair; one without `=` is the docker CLI's error.
pub fn filter_pairs(flags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    flags
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))
        })
        .collect()
}
