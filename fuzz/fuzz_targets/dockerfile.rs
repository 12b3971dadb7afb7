//! Dockerfiles: parsing (directives, continuations, heredocs, flags) never panics and keeps its rules; substitution and word splitting agree with their plain cases.
#![no_main]

use berth_engine::build::dockerfile::{
    key_values, parse, parse_instructions, shell_words, substitute,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fn vars() -> BTreeMap<String, String> {
    [
        ("A", "1"),
        ("HOME", "/root"),
        ("EMPTY", ""),
        ("PATH", "/usr/bin:/bin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn words_and_values(s: &str, vars: &BTreeMap<String, String>) {
    for escape in ['\\', '`'] {
        let out = substitute(s, vars, escape);
        if !s.contains('$') {
            assert_eq!(out, s, "nothing to substitute");
        }
    }
    let words = shell_words(s);
    if !s.contains(['"', '\'', '\\']) {
        let plain: Vec<&str> = s.split_whitespace().collect();
        assert_eq!(
            words, plain,
            "{s:?}: no quoting, so plain whitespace splitting"
        );
    }
    if let Ok(kv) = key_values(s) {
        if !words.is_empty() {
            assert!(!kv.is_empty(), "{s:?}: words but no pairs");
        }
        if words.first().is_some_and(|w| w.contains('=')) {
            assert!(kv.iter().all(|(k, _)| !k.contains('=')), "{s:?}: {kv:?}");
        }
    }
}

fuzz_target!(|text: &str| {
    let vars = vars();
    let all = parse_instructions(text);
    match parse(text) {
        Ok(list) => {
            assert!(matches!(list[0].cmd.as_str(), "FROM" | "ARG"));
            assert!(list.iter().any(|i| i.cmd == "FROM"));
            assert_eq!(
                all.as_ref().ok(),
                Some(&list),
                "parse is parse_instructions plus rules"
            );
        }
        Err(_) => {}
    }
    if let Ok(list) = all {
        for i in &list {
            assert_eq!(i.cmd, i.cmd.to_ascii_uppercase());
            assert!(
                !i.cmd.is_empty(),
                "{text:?}: an instruction without a keyword"
            );
            if !matches!(i.cmd.as_str(), "RUN" | "COPY" | "ADD") {
                assert!(i.heredocs.is_empty(), "heredocs only in RUN, COPY and ADD");
            }
            words_and_values(&i.rest, &vars);
            for v in i.flags.values() {
                words_and_values(v, &vars);
            }
        }
    }
    words_and_values(text, &vars);
});
