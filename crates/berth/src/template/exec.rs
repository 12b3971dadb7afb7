//! The executor: walks the parsed tree against a JSON value, plus the truthiness
//! and comparisons that `if`, `and`/`or` and `eq`/`lt`... share.

use super::funcs::{call_func, go_json, HEADER_IDENTITY_FUNCS};
use super::parse::{Arg, Branch, Kind, Node, Pipe};
use super::printf::{format_v, int_of, type_name};
use super::{line_col, FormatError, Val};
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// How a body ended, so `{{break}}`/`{{continue}}` can leave nested ifs.
pub(super) enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution's state; `vars` is a stack so a branch's variables go out of scope at its `{{end}}`.
pub(super) struct Exec<'a> {
    pub(super) src: &'a str,
    pub(super) vars: Vec<(String, Val)>,
    /// Rendering a table header: Docker's header funcs are identities and missing keys print empty.
    pub(super) header: bool,
}

impl Exec<'_> {
    fn fail(&self, pipe: &Pipe, msg: String) -> FormatError {
        let (line, col) = line_col(self.src, pipe.pos);
        FormatError(format!(
            "template: :{}:{}: executing \"\" at <{}>: {}",
            line, col, pipe.text, msg
        ))
    }

    /// Renders `nodes` into `out`; a `Break`/`Continue` result unwinds to the enclosing range.
    pub(super) fn walk(
        &mut self,
        nodes: &[Node],
        dot: &Val,
        out: &mut String,
    ) -> Result<Flow, FormatError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.eval_pipe(pipe, dot).map_err(|m| self.fail(pipe, m))?;
                    if pipe.decl.is_empty() {
                        match v {
                            Some(v) => out.push_str(&format_v(&v)),
                            None if self.header => {}
                            None => out.push_str("<no value>"),
                        }
                    }
                }
                Node::Branch(b) => {
                    let mark = self.vars.len();
                    let flow = if b.kind == Kind::Range {
                        self.range(b, dot, out)?
                    } else {
                        let v = self
                            .eval_pipe(&b.pipe, dot)
                            .map_err(|m| self.fail(&b.pipe, m))?;
                        match (truthy(&v), b.kind) {
                            (true, Kind::With) => self.walk(&b.body, &v, out)?,
                            (true, _) => self.walk(&b.body, dot, out)?,
                            (false, _) => self.walk(&b.else_body, dot, out)?,
                        }
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, b: &Branch, dot: &Val, out: &mut String) -> Result<Flow, FormatError> {
        let v = self
            .eval_cmds(&b.pipe, dot)
            .map_err(|m| self.fail(&b.pipe, m))?;
        let elems: Vec<(Value, Value)> = match v {
            // JSON loses Go's typed-nil slices and maps; ranging over them yields nothing.
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e))
                .collect(),
            Some(Value::Object(m)) => {
                let mut kv: Vec<(Value, Value)> =
                    m.into_iter().map(|(k, v)| (Value::String(k), v)).collect();
                kv.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                kv
            }
            Some(Value::Number(n)) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            Some(other) => {
                return Err(self.fail(
                    &b.pipe,
                    format!("range can't iterate over {}", format_v(&other)),
                ))
            }
        };
        if elems.is_empty() {
            return self.walk(&b.else_body, dot, out);
        }
        for (key, elem) in elems {
            let mark = self.vars.len();
            let bound: Vec<Val> = match b.pipe.decl.len() {
                1 => vec![Some(elem.clone())],
                2 => vec![Some(key), Some(elem.clone())],
                _ => Vec::new(),
            };
            for (name, val) in b.pipe.decl.iter().zip(bound) {
                self.bind(name, val, b.pipe.assign);
            }
            let flow = self.walk(&b.body, &Some(elem), out)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn bind(&mut self, name: &str, val: Val, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = val;
                return;
            }
        }
        self.vars.push((name.to_string(), val));
    }

    fn eval_pipe(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, String> {
        let v = self.eval_cmds(pipe, dot)?;
        for name in &pipe.decl {
            self.bind(name, v.clone(), pipe.assign);
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, String> {
        let mut last: Option<Val> = None;
        for cmd in &pipe.cmds {
            last = Some(self.eval_cmd(cmd, dot, last)?);
        }
        Ok(last.flatten())
    }

    fn eval_cmd(&mut self, cmd: &[Arg], dot: &Val, piped: Option<Val>) -> Result<Val, String> {
        match &cmd[0] {
            Arg::Func(name) => self.call(name, &cmd[1..], dot, piped),
            Arg::Nil => Err("nil is not a command".into()),
            first => {
                if cmd.len() > 1 || piped.is_some() {
                    return Err(format!(
                        "can't give argument to non-function {}",
                        arg_text(first)
                    ));
                }
                self.eval_arg(first, dot)
            }
        }
    }

    fn eval_arg(&mut self, arg: &Arg, dot: &Val) -> Result<Val, String> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Field(chain) => self.chain(dot.as_ref(), chain),
            Arg::Var(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.clone());
                self.chain(v.as_ref(), chain)
            }
            Arg::Func(name) => self.call(name, &[], dot, None),
            Arg::Lit(v) => Ok(Some(v.clone())),
            Arg::Nil => Ok(Some(Value::Null)),
            Arg::Sub(pipe, chain) => {
                let v = self.eval_pipe(pipe, dot)?;
                self.chain(v.as_ref(), chain)
            }
        }
    }

    fn chain(&self, mut cur: Option<&Value>, chain: &[String]) -> Result<Val, String> {
        for name in chain {
            cur = match cur {
                // Go keeps an invalid value invalid down the chain, so `.Missing.X` is `<no value>`.
                None => None,
                Some(Value::Object(m)) => m.get(name),
                Some(_) if self.header => None,
                Some(Value::Null) => {
                    return Err(format!("nil pointer evaluating interface {{}}.{}", name))
                }
                Some(v) => {
                    return Err(format!(
                        "can't evaluate field {} in type {}",
                        name,
                        type_name(v)
                    ))
                }
            };
        }
        Ok(cur.cloned())
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Val,
        piped: Option<Val>,
    ) -> Result<Val, String> {
        if name == "and" || name == "or" {
            if args.is_empty() && piped.is_none() {
                return Err(format!(
                    "wrong number of args for {}: want at least 1 got 0",
                    name
                ));
            }
            // Short-circuits like Go 1.18+: the deciding operand itself is the result.
            let stop_on = name == "or";
            let mut last = None;
            for a in args {
                let v = self.eval_arg(a, dot)?;
                if truthy(&v) == stop_on {
                    return Ok(v);
                }
                last = Some(v);
            }
            return Ok(piped.or(last).flatten());
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(a, dot)?.unwrap_or(Value::Null));
        }
        if let Some(p) = piped {
            vals.push(p.unwrap_or(Value::Null));
        }
        if self.header && HEADER_IDENTITY_FUNCS.contains(&name) {
            let first = vals.iter().find(|v| v.is_string()).or(vals.first());
            return Ok(Some(first.cloned().unwrap_or_default()));
        }
        call_func(name, &vals).map(Some).map_err(|m| {
            if m.starts_with("wrong number") {
                m
            } else {
                format!("error calling {}: {}", name, m)
            }
        })
    }
}

fn arg_text(arg: &Arg) -> String {
    match arg {
        Arg::Dot => ".".into(),
        Arg::Field(c) => format!(".{}", c.join(".")),
        Arg::Var(n, c) if c.is_empty() => n.clone(),
        Arg::Var(n, c) => format!("{}.{}", n, c.join(".")),
        Arg::Func(n) => n.clone(),
        Arg::Lit(v) => go_json(v),
        Arg::Nil => "nil".into(),
        Arg::Sub(p, _) => format!("({})", p.text),
    }
}

/// Go truthiness: false, 0, "", nil and empty collections are false.
pub(super) fn truthy(v: &Val) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

fn num_cmp(a: &Number, b: &Number) -> Ordering {
    match (a.is_f64() || b.is_f64(), int_of(a), int_of(b)) {
        (false, Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

/// Go's `eq` on two operands: numbers compare by value whatever their JSON type.
pub(super) fn values_eq(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Ordering::Equal,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => a == b,
        _ => return Err("incompatible types for comparison".into()),
    })
}

/// Go's ordering for `lt`/`le`/`gt`/`ge`: only numbers and strings are ordered.
pub(super) fn values_cmp(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(num_cmp(x, y)),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::template::testutil::{parse_err, r, render_err, ri};
    use serde_json::json;

    #[test]
    fn bool_field() {
        assert_eq!(ri("{{.State.Running}}"), "true");
    }

    #[test]
    fn string_field_and_text() {
        assert_eq!(ri("name={{.Name}}!"), "name=/web!");
        assert_eq!(ri("no actions"), "no actions");
        assert_eq!(ri(""), "");
    }

    #[test]
    fn range_array() {
        assert_eq!(ri("{{range .Mounts}}{{.Source}} {{end}}"), "/src1 /src2 ");
        assert_eq!(
            ri("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}};{{end}}"),
            "0:/d1;1:/d2;"
        );
        assert_eq!(
            ri("{{range $e := .Config.Env}}[{{$e}}]{{end}}"),
            "[A=1][B=2]"
        );
    }

    #[test]
    fn range_map_sorted() {
        assert_eq!(
            ri("{{range $k,$v := .M}}{{$k}}={{$v}};{{end}}"),
            "a=2;m=3;z=1;"
        );
        assert_eq!(ri("{{range .M}}{{.}}{{end}}"), "231");
    }

    #[test]
    fn range_else_and_nil() {
        assert_eq!(ri("{{range .List}}x{{else}}empty{{end}}"), "empty");
        assert_eq!(ri("{{range .State.Health}}x{{else}}none{{end}}"), "none");
        assert_eq!(ri("{{range .Missing}}x{{end}}"), "");
        assert_eq!(ri("{{range 3}}{{.}}{{end}}"), "012");
    }

    #[test]
    fn range_break_continue() {
        assert_eq!(
            ri("{{range .Args}}{{if eq . \"-c\"}}{{continue}}{{end}}{{.}},{{end}}"),
            "sh,echo hi,"
        );
        assert_eq!(
            ri("{{range .Args}}{{if eq . \"-c\"}}{{break}}{{end}}{{.}},{{end}}"),
            "sh,"
        );
        assert!(parse_err("{{break}}").contains("outside {{range}}"));
    }

    #[test]
    fn if_eq_else() {
        let t = r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#;
        assert_eq!(ri(t), "up");
        assert_eq!(r(t, &json!({"State": {"Status": "exited"}})), "down");
        assert_eq!(ri(r#"{{if eq .A "q" "r" "x"}}multi{{end}}"#), "multi");
    }

    #[test]
    fn truthiness() {
        let t = "{{if .X}}T{{else}}F{{end}}";
        for (x, want) in [
            (json!(false), "F"),
            (json!(0), "F"),
            (json!(0.0), "F"),
            (json!(""), "F"),
            (json!(null), "F"),
            (json!([]), "F"),
            (json!({}), "F"),
            (json!(true), "T"),
            (json!(-1), "T"),
            (json!("0"), "T"),
            (json!([0]), "T"),
            (json!({"a": 1}), "T"),
        ] {
            assert_eq!(r(t, &json!({"X": x})), want, "{x}");
        }
        assert_eq!(r(t, &json!({})), "F");
    }

    #[test]
    fn with_and_else() {
        assert_eq!(ri("{{with .Config.Labels}}{{.a}}{{end}}"), "b");
        assert_eq!(ri("{{with .Empty}}x{{else}}empty{{end}}"), "empty");
        assert_eq!(
            ri("{{with $l := .Config.Labels}}{{$l.a}}{{.a}}{{end}}"),
            "bb"
        );
        assert_eq!(ri("{{with .Empty}}a{{else with .A}}{{.}}{{end}}"), "x");
    }

    #[test]
    fn missing_and_nil() {
        assert_eq!(ri("{{.Missing}}"), "<no value>");
        assert_eq!(ri("{{.Missing.Deeper}}"), "<no value>");
        assert_eq!(ri("{{.State.Health}}"), "<nil>");
        assert_eq!(ri("{{print .Missing}}"), "<nil>");
    }

    #[test]
    fn field_errors() {
        let e = render_err("{{.State.Health.Status}}");
        assert!(
            e.starts_with("template parsing error: template: :1:2: executing"),
            "{e}"
        );
        assert!(
            e.contains("nil pointer evaluating interface {}.Status"),
            "{e}"
        );
        assert!(render_err("{{.Name.Foo}}").contains("can't evaluate field Foo in type string"));
        assert!(render_err("{{.Name 1}}").contains("can't give argument to non-function .Name"));
    }

    #[test]
    fn nested_parens_and_logic() {
        assert_eq!(
            ri(r#"{{if and (eq .A "x") (gt (len .Args) 2)}}yes{{end}}"#),
            "yes"
        );
        assert_eq!(
            ri(r#"{{if or (eq .A "y") (not .State.Running)}}yes{{else}}no{{end}}"#),
            "no"
        );
        assert_eq!(ri("{{(index .Mounts 1).Source}}"), "/src2");
        assert_eq!(
            ri(r#"{{printf "%s/%s" (upper (index .Args 0)) (lower (printf "%s" "AB"))}}"#),
            "SH/ab"
        );
    }

    #[test]
    fn and_or_values() {
        assert_eq!(ri(r#"{{or .Missing .Empty "default"}}"#), "default");
        assert_eq!(ri(r#"{{and .A .N}}"#), "7");
        assert_eq!(ri(r#"{{and .Zero .Missing.X}}"#), "0");
        // Short-circuit: the erroring field after a decided `or` is never evaluated.
        assert_eq!(ri(r#"{{or .A .Name.Bad}}"#), "x");
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            ri("{{lt 1 2}} {{le 2 2}} {{gt .N 7}} {{ge .F 1}} {{ne .A \"x\"}}"),
            "true true false true false"
        );
        assert_eq!(
            ri(r#"{{lt "abc" "abd"}} {{eq .N 7.0}} {{eq .State.Health nil}}"#),
            "true true true"
        );
        assert!(render_err(r#"{{eq .N "7"}}"#).contains("incompatible types for comparison"));
        assert!(render_err(r#"{{lt true false}}"#).contains("invalid type for comparison"));
    }

    #[test]
    fn variables_and_root() {
        assert_eq!(
            ri("{{$n := .Name}}{{range .Args}}{{$n}}{{end}}"),
            "/web/web/web"
        );
        assert_eq!(ri("{{range .Mounts}}{{$.A}}{{end}}"), "xx");
        assert_eq!(ri("{{$x := 1}}{{range .Args}}{{$x = 2}}{{end}}{{$x}}"), "2");
        assert_eq!(ri(r#"{{$s := "a\tb\n"}}{{$s}}"#), "a\tb\n");
        assert!(parse_err("{{$nope}}").contains("undefined variable \"$nope\""));
        assert!(parse_err("{{if true}}{{$y := 1}}{{end}}{{$y}}").contains("undefined variable"));
    }
}
