//! Fixtures shared by the template tests, which all go through `Template::parse` and `render`.

use super::Template;
use serde_json::{json, Value};

fn inspect() -> Value {
    json!({
        "Id": "0123456789abcdef0123456789abcdef",
        "Name": "/web",
        "State": {"Running": true, "Status": "running", "Pid": 42, "Health": null},
        "Config": {"Labels": {"a": "b"}, "Env": ["A=1", "B=2"]},
        "Mounts": [{"Source": "/src1", "Destination": "/d1"}, {"Source": "/src2", "Destination": "/d2"}],
        "M": {"z": 1, "a": 2, "m": 3},
        "Args": ["sh", "-c", "echo hi"],
        "A": "x",
        "N": 7,
        "F": 1.5,
        "Big": 1000000.0,
        "Zero": 0,
        "Empty": "",
        "List": [],
        "Nested": {"Obj": {"k": "v", "n": [1, 2]}},
    })
}

pub(super) fn r(tmpl: &str, data: &Value) -> String {
    Template::parse(tmpl)
        .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
        .render(data)
        .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
}

pub(super) fn ri(tmpl: &str) -> String {
    r(tmpl, &inspect())
}

pub(super) fn render_err(tmpl: &str) -> String {
    Template::parse(tmpl)
        .expect("parses")
        .render(&inspect())
        .expect_err("should fail")
        .to_string()
}

pub(super) fn parse_err(tmpl: &str) -> String {
    Template::parse(tmpl)
        .expect_err("should not parse")
        .to_string()
}
