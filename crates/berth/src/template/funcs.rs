//! The functions a template can call: Go's builtins (`and`/`or` short-circuit, so
//! they live in the executor) and Docker's extras (`json`, `join`, `title`, `pad`...).

use super::exec::{truthy, values_cmp, values_eq};
use super::printf::{
    float_digits, fmt_e, fmt_f, format_v, int_of, sorted, sprint, sprintf, type_name,
};
use serde_json::Value;
use std::cmp::Ordering;

/// Functions known at parse time; Go rejects anything else before executing.
pub(super) const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "printf", "print",
    "println", "json", "join", "split", "title", "lower", "upper", "pad", "truncate",
];

/// Docker swaps these for identity functions when rendering a table header,
/// so `{{upper .Names}}` still shows the header text unchanged.
pub(super) const HEADER_IDENTITY_FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "truncate",
];

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {}: want {} got {}",
            name,
            n,
            args.len()
        ))
    }
}

/// Scalars are accepted where Go wants a string, since JSON lost Go's exact types.
fn str_arg(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(format_v(v)),
        Value::Null => Err("invalid value; expected string".into()),
        _ => Err(format!(
            "wrong type for value; expected string; got {}",
            type_name(v)
        )),
    }
}

/// Integral floats count as ints, since JSON may have widened them.
pub(super) fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => int_of(n).and_then(|i| i64::try_from(i).ok()),
        _ => None,
    }
    .ok_or_else(|| format!("wrong type for value; expected int; got {}", type_name(v)))
}

/// Go's strings.Title: upper-cases the first letter after any separator.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let sep = if prev.is_ascii() {
                !(prev.is_ascii_alphanumeric() || prev == '_')
            } else {
                prev.is_whitespace()
            };
            prev = c;
            if sep {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Calls builtin `name` on already evaluated arguments.
pub(super) fn call_func(name: &str, args: &[Value]) -> Result<Value, String> {
    Ok(match name {
        "not" => {
            want(name, args, 1)?;
            Value::Bool(!truthy(&Some(args[0].clone())))
        }
        "len" => {
            want(name, args, 1)?;
            Value::from(match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => 0,
                v => return Err(format!("len of type {}", type_name(v))),
            })
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut cur = args[0].clone();
            for idx in &args[1..] {
                cur = match (&cur, idx) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => {
                        let i = int_of(n).ok_or("cannot index slice/array with type float64")?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| a.get(i))
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {}", i))?
                    }
                    (Value::String(s), Value::Number(n)) => {
                        let i = int_of(n).ok_or("cannot index string with type float64")?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| s.as_bytes().get(i))
                            .map(|b| Value::from(*b))
                            .ok_or_else(|| format!("index out of range: {}", i))?
                    }
                    (Value::Null, _) => return Err("index of untyped nil".into()),
                    (Value::Object(_), k) => {
                        return Err(format!("value has type {}; should be string", type_name(k)))
                    }
                    (Value::Array(_), k) => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            type_name(k)
                        ))
                    }
                    (v, _) => return Err(format!("can't index item of type {}", type_name(v))),
                };
            }
            cur
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= values_eq(&args[0], b)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            want(name, args, 2)?;
            Value::Bool(!values_eq(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, args, 2)?;
            let ord = values_cmp(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        "printf" => {
            let Some(Value::String(f)) = args.first() else {
                return Err(match args.first() {
                    None => "wrong number of args for printf: want at least 1 got 0".into(),
                    Some(v) => format!(
                        "wrong type for value; expected string; got {}",
                        type_name(v)
                    ),
                });
            };
            Value::String(sprintf(f, &args[1..]))
        }
        "print" => Value::String(sprint(args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(format_v).collect();
            Value::String(parts.join(" ") + "\n")
        }
        "json" => {
            want(name, args, 1)?;
            Value::String(go_json(&args[0]))
        }
        "join" => {
            want(name, args, 2)?;
            let sep = str_arg(&args[1])?;
            let parts = match &args[0] {
                Value::Array(a) => a.iter().map(str_arg).collect::<Result<Vec<_>, _>>()?,
                Value::Null => Vec::new(),
                v => {
                    return Err(format!(
                        "wrong type for value; expected []string; got {}",
                        type_name(v)
                    ))
                }
            };
            Value::String(parts.join(&sep))
        }
        "split" => {
            want(name, args, 2)?;
            let (s, sep) = (str_arg(&args[0])?, str_arg(&args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Value::Array(parts)
        }
        "title" | "lower" | "upper" => {
            want(name, args, 1)?;
            let s = str_arg(&args[0])?;
            Value::String(match name {
                "title" => title(&s),
                "lower" => s.to_lowercase(),
                _ => s.to_uppercase(),
            })
        }
        "pad" => {
            want(name, args, 3)?;
            let s = str_arg(&args[0])?;
            let (l, r) = (
                int_arg(&args[1])?.max(0) as usize,
                int_arg(&args[2])?.max(0) as usize,
            );
            // Docker leaves empty values unpadded.
            Value::String(if s.is_empty() {
                s
            } else {
                format!("{}{}{}", " ".repeat(l), s, " ".repeat(r))
            })
        }
        "truncate" => {
            want(name, args, 2)?;
            let s = str_arg(&args[0])?;
            let n = int_arg(&args[1])?.max(0) as usize;
            Value::String(s.chars().take(n).collect())
        }
        _ => return Err(format!("function {:?} not defined", name)),
    })
}

/// Go's json.Marshal for a value (no HTML escaping, as Docker's `json` func sets).
pub(super) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if !n.is_f64() => out.push_str(&n.to_string()),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.is_sign_negative() && f != 0.0 {
                out.push('-');
            }
            let (digits, dp) = float_digits(f, None);
            let a = f.abs();
            if a != 0.0 && !(1e-6..1e21).contains(&a) {
                let e = fmt_e(&digits, dp, digits.len().saturating_sub(1), false);
                // Go trims "e-07" to "e-7" in JSON.
                out.push_str(&e.replace("e-0", "e-"));
            } else {
                out.push_str(&fmt_f(
                    &digits,
                    dp,
                    (digits.len() as i32 - dp).max(0) as usize,
                ));
            }
        }
        Value::String(s) => write_json_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in sorted(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_json(e, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use crate::template::testutil::{r, render_err, ri};
    use crate::template::Template;
    use serde_json::json;

    #[test]
    fn json_func() {
        assert_eq!(ri("{{json .Config.Labels}}"), r#"{"a":"b"}"#);
        assert_eq!(ri("{{json .Nested}}"), r#"{"Obj":{"k":"v","n":[1,2]}}"#);
        assert_eq!(ri("{{json .Missing}}"), "null");
        assert_eq!(
            r("{{json .}}", &json!({"h": "<a&b>\n", "f": 1.5, "e": 1e21})),
            r#"{"e":1e+21,"f":1.5,"h":"<a&b>\n"}"#
        );
    }

    #[test]
    fn index_map_and_array() {
        let d = json!({"Config": {"Labels": {"com.x": "yes"}}, "A": [[1, 2], [3, 4]]});
        assert_eq!(r(r#"{{index .Config.Labels "com.x"}}"#, &d), "yes");
        assert_eq!(r("{{index .A 1 0}}", &d), "3");
        assert_eq!(r(r#"{{index .Config.Labels "nope"}}"#, &d), "<nil>");
        let e = Template::parse("{{index .A 5}}")
            .unwrap()
            .render(&d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("index out of range: 5"), "{e}");
    }

    #[test]
    fn string_funcs() {
        assert_eq!(ri("{{upper .Name}}"), "/WEB");
        assert_eq!(ri("{{lower \"AbC\"}}"), "abc");
        assert_eq!(
            ri("{{title \"hello wide-world foo_bar\"}}"),
            "Hello Wide-World Foo_bar"
        );
        assert_eq!(ri(r#"{{join .Args ","}}"#), "sh,-c,echo hi");
        assert_eq!(ri(r#"{{split "a:b:c" ":"}}"#), "[a b c]");
        assert_eq!(ri(r#"{{index (split "a:b:c" ":") 1}}"#), "b");
        assert_eq!(ri(r#"{{pad .A 2 3}}|{{pad "" 2 2}}|"#), "  x   ||");
        assert_eq!(ri("{{truncate .Id 5}}|{{truncate .A 5}}"), "01234|x");
        assert_eq!(ri("{{.Name | upper | printf \"<%s>\"}}"), "</WEB>");
    }

    #[test]
    fn len_func() {
        assert_eq!(ri("{{len .Args}}"), "3");
        assert_eq!(
            ri("{{len .M}} {{len .Name}} {{len .List}} {{len .State.Health}}"),
            "3 4 0 0"
        );
        assert!(render_err("{{len .N}}").contains("error calling len: len of type int"));
    }

    #[test]
    fn print_and_println() {
        assert_eq!(ri(r#"{{print "a" "b" 1 2 "c" 3}}"#), "ab1 2c3");
        assert_eq!(ri(r#"{{println .A .N}}"#), "x 7\n");
        assert_eq!(ri("{{`raw\\t`}}{{'a'}}"), "raw\\t97");
    }

    #[test]
    fn wrong_arg_counts() {
        assert!(
            render_err("{{join .Args}}").contains("wrong number of args for join: want 2 got 1")
        );
        assert!(render_err("{{upper}}").contains("wrong number of args for upper: want 1 got 0"));
    }
}
