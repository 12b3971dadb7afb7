//! Links the berth executable at a fixed address (non-PIE). The shim is berth re-executed and
//! lives as long as its container; in a PIE binary the dynamic loader relocates ~300 KiB of
//! `.data.rel.ro` at start, which turns those pages into private memory in every shim. Linked
//! non-PIE they stay clean, shared, file-backed pages.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
