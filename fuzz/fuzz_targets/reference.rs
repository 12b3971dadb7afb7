//! Image references: whatever parses prints a canonical form that parses back to the same reference.
#![no_main]

use berth_engine::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(r) = Reference::parse(s) {
        let shown = r.to_string();
        let again = Reference::parse(&shown)
            .unwrap_or_else(|e| panic!("{s:?} -> {shown:?} does not re-parse: {e}"));
        assert_eq!(r, again, "{s:?} -> {shown:?}");
        assert!(!r.registry().is_empty() && !r.repository().is_empty());
        assert!(
            r.tag().is_some() || r.digest().is_some(),
            "parse adds latest"
        );
        // The short form the CLI prints names the same image too, except where Docker's own
        // familiar form is ambiguous: a Hub repository whose first component reads as a host
        // ("docker.io/a.b/c" shows as "a.b/c"), which berth prints as Docker does.
        let first = r.repository().split('/').next().unwrap_or_default();
        let host_like = first.contains(['.', ':']) || first == "localhost";
        if !(r.registry() == "docker.io" && host_like && r.repository().contains('/')) {
            let familiar = r.familiar();
            assert_eq!(
                Reference::parse(&familiar).as_ref(),
                Ok(&r),
                "{s:?} -> {familiar:?}"
            );
        }
    }
    if let Ok(r) = Reference::parse_named(s) {
        let shown = r.to_string();
        assert_eq!(
            Reference::parse_named(&shown).as_ref(),
            Ok(&r),
            "{s:?} -> {shown:?}"
        );
        if let Some(tag) = r.tag() {
            assert_eq!(
                r.with_tag(tag).map(|t| t.tag().map(String::from)),
                Ok(Some(tag.to_string()))
            );
        }
    }
});
