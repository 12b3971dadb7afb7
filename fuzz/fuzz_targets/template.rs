//! `--format` templates: any text parses or fails cleanly, renders the same twice over a container-like JSON value, and text without actions renders as itself.
#![no_main]

// The template engine lives in the binary crate; it depends on serde_json alone, so the
// fuzzer compiles the very same source files rather than a copy.
#[allow(dead_code)]
#[path = "../../crates/berth/src/template/mod.rs"]
mod template;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn data() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        json!({
            "ID": "4a1f3c2b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
            "Name": "/web",
            "Names": ["web", "alias"],
            "Image": "docker.io/library/busybox:latest",
            "Created": "2024-01-02T03:04:05.123456789Z",
            "Args": ["-c", "echo hi"],
            "Size": 12345,
            "Ratio": 0.5,
            "Neg": -7,
            "Empty": "",
            "Nil": null,
            "True": true,
            "State": {"Status": "running", "Running": true, "Pid": 42, "ExitCode": 0, "Health": null},
            "Config": {
                "Env": ["PATH=/usr/bin", "A=1"],
                "Labels": {"com.example.k": "v", "b": "2"},
                "Cmd": ["sh"],
                "ExposedPorts": {"80/tcp": {}},
            },
            "Mounts": [{"Source": "/src", "Destination": "/dst", "RW": true}],
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
        })
    })
}

/// True when the template may ask for a huge amount of work on purpose: `range N` and
/// `pad s N M` do what they are told, as Go's and Docker's do, so a big literal there is a
/// slow or huge render by request rather than a bug.
fn asks_for_bulk(src: &str) -> bool {
    let b = src.as_bytes();
    let long_number = b.windows(5).any(|w| w.iter().all(u8::is_ascii_digit));
    let other_base = b.windows(2).any(|w| {
        w[0].is_ascii_digit()
            && matches!(
                w[1],
                b'x' | b'X' | b'o' | b'O' | b'b' | b'B' | b'e' | b'E' | b'p' | b'P' | b'_'
            )
    });
    (src.contains("range") || src.contains("pad")) && (long_number || other_base)
}

fuzz_target!(|src: &str| {
    if asks_for_bulk(src) {
        return;
    }
    let Ok(t) = template::Template::parse(src) else {
        return;
    };
    let first = t.render(data());
    assert_eq!(first, t.render(data()), "rendering is deterministic");
    if !src.contains("{{") {
        assert_eq!(
            first.as_deref(),
            Ok(src),
            "no actions: the text is the output"
        );
    }
    let _ = t.render_header(data());
});
