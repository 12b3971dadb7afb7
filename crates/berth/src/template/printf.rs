//! Go's fmt as templates see it: `%v` printing, `print`, and `printf` with the
//! verbs and flags templates use, reproducing Go's float digits and error strings
//! (`%!d(string=x)`) exactly.

use super::funcs::int_arg;
use serde_json::{Map, Number, Value};

/// The Go type a JSON value stands for, as `%T` and error messages name it.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A number as a Go int, if it is integral; JSON may have stored a Go int as a float.
pub(super) fn int_of(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i128)
        })
}

/// Go's `%v` rendering of a value.
pub(super) fn format_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match int_of(n) {
            Some(i) if !n.is_f64() => i.to_string(),
            _ => {
                let f = n.as_f64().unwrap_or(0.0);
                let body = fmt_g(f.abs(), None, false);
                if f.is_sign_negative() {
                    format!("-{}", body)
                } else {
                    body
                }
            }
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(format_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            sorted(m)
                .iter()
                .map(|(k, v)| format!("{}:{}", k, format_v(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go prints and encodes maps in key order, independent of serde_json's `preserve_order`.
pub(super) fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut kv: Vec<_> = m.iter().collect();
    kv.sort_by(|a, b| a.0.cmp(b.0));
    kv
}

/// Go's fmt.Sprint: a space goes between operands only when neither is a string.
pub(super) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&format_v(a));
    }
    out
}

/// Decimal digits of `|f|` without trailing zeros, and the decimal point position
/// (Go's strconv `decimal` nd/dp), either shortest round-trip or rounded to `sig` digits.
pub(super) fn float_digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

/// Go's 'e' format of `float_digits` output with `prec` digits after the point.
pub(super) fn fmt_e(digits: &[u8], dp: i32, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push(digits.first().map_or('0', |d| *d as char));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digits.get(i).map_or('0', |d| *d as char));
        }
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.abs()));
    s
}

/// Go's 'f' format of `float_digits` output with `prec` digits after the point.
pub(super) fn fmt_f(digits: &[u8], dp: i32, prec: usize) -> String {
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |d| *d as char)
    };
    let mut s = String::new();
    if dp > 0 {
        (0..dp).for_each(|i| s.push(digit(i)));
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        (0..prec as i32).for_each(|i| s.push(digit(dp + i)));
    }
    s
}

/// strconv.FormatFloat(|f|, 'g', prec) — `None` is Go's shortest (-1) precision.
fn fmt_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    let (digits, dp) = float_digits(f, prec.map(|p| p.max(1)));
    let nd = digits.len() as i32;
    let mut p = prec.map_or(nd, |p| p.max(1) as i32);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        p = p.min(nd);
        return fmt_e(&digits, dp, (p - 1).max(0) as usize, upper);
    }
    if p > dp {
        p = nd;
    }
    fmt_f(&digits, dp, (p - dp).max(0) as usize)
}

/// A verb's flags, width and precision.
#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, s: String) -> String {
        let len = s.chars().count();
        match self.width {
            Some(w) if w > len => {
                let fill = w - len;
                if self.minus {
                    s + &" ".repeat(fill)
                } else if self.zero {
                    "0".repeat(fill) + &s
                } else {
                    " ".repeat(fill) + &s
                }
            }
            _ => s,
        }
    }

    /// Pads a number, putting zero padding between the sign/prefix and the digits like Go.
    fn pad_num(&self, sign_prefix: &str, digits: &str) -> String {
        match self.width {
            Some(w) if self.zero && !self.minus => {
                let len = sign_prefix.chars().count() + digits.chars().count();
                format!(
                    "{}{}{}",
                    sign_prefix,
                    "0".repeat(w.saturating_sub(len)),
                    digits
                )
            }
            _ => self.pad(format!("{}{}", sign_prefix, digits)),
        }
    }

    fn sign(&self, negative: bool) -> &'static str {
        if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        }
    }
}

/// Go's fmt.Sprintf for the verbs templates actually use.
pub(super) fn sprintf(format: &str, args: &[Value]) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut next_arg = 0;
    let mut i = 0;
    let star = |next_arg: &mut usize| -> Option<i64> {
        let v = args
            .get(*next_arg)
            .and_then(|v| int_arg(v).ok())
            .filter(|n| n.unsigned_abs() <= TOO_LARGE);
        *next_arg += 1;
        v
    };
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec::default();
        while let Some(c) = chars.get(i) {
            match c {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if chars.get(i) == Some(&'*') {
            i += 1;
            match star(&mut next_arg) {
                Some(w) => {
                    spec.minus |= w < 0;
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            spec.width = read_num(&chars, &mut i);
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            if chars.get(i) == Some(&'*') {
                i += 1;
                match star(&mut next_arg) {
                    Some(p) if p >= 0 => spec.prec = Some(p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
            } else {
                spec.prec = Some(read_num(&chars, &mut i).unwrap_or(0));
            }
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
        } else if let Some(arg) = args.get(next_arg) {
            next_arg += 1;
            out.push_str(&fmt_arg(&spec, verb, arg));
        } else {
            out.push_str(&format!("%!{}(MISSING)", verb));
        }
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| match a {
                Value::Null => "<nil>".to_string(),
                a => format!("{}={}", type_name(a), format_v(a)),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// Go's fmt refuses widths and precisions past a million (its `tooLarge`), so that a stray
/// number cannot ask for gigabytes of padding.
const TOO_LARGE: u64 = 1_000_000;

/// Reads a width or precision as Go's `parsenum` does: None without digits, and a number
/// that grows past [`TOO_LARGE`] swallows the rest of the format (Go then prints NOVERB).
fn read_num(chars: &[char], i: &mut usize) -> Option<usize> {
    let mut num: u64 = 0;
    let mut any = false;
    while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
        if num > TOO_LARGE {
            *i = chars.len();
            return None;
        }
        num = num * 10 + u64::from(d);
        any = true;
        *i += 1;
    }
    any.then_some(num as usize)
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Null => format!("%!{}(<nil>)", verb),
        v => format!("%!{}({}={})", verb, type_name(v), format_v(v)),
    }
}

fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if ascii_only && !c.is_ascii() && (c as u32) < 0x10000 => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if ascii_only && !c.is_ascii() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fmt_arg(spec: &Spec, verb: char, v: &Value) -> String {
    match (verb, v) {
        ('T', v) => spec.pad(type_name(v).to_string()),
        // Go applies the verb element-wise inside collections.
        (_, Value::Array(a)) => {
            format!(
                "[{}]",
                a.iter()
                    .map(|e| fmt_arg(spec, verb, e))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        (_, Value::Object(m)) => format!(
            "map[{}]",
            sorted(m)
                .iter()
                .map(|(k, e)| format!(
                    "{}:{}",
                    fmt_arg(spec, verb, &Value::String((*k).clone())),
                    fmt_arg(spec, verb, e)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ('v', Value::Null) => spec.pad("<nil>".into()),
        ('v' | 't', Value::Bool(b)) => spec.pad(b.to_string()),
        ('v' | 's', Value::String(s)) => spec.pad(
            spec.prec
                .map_or_else(|| s.clone(), |p| s.chars().take(p).collect()),
        ),
        ('q', Value::String(s)) => {
            let s: String = spec
                .prec
                .map_or_else(|| s.clone(), |p| s.chars().take(p).collect());
            if spec.sharp
                && !s.contains(['`', '\n', '\r', '\t'])
                && !s.chars().any(char::is_control)
            {
                spec.pad(format!("`{}`", s))
            } else {
                spec.pad(quote(&s, spec.plus))
            }
        }
        ('x' | 'X', Value::String(s)) => {
            let hex: String = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{:02x}", b)
                    } else {
                        format!("{:02X}", b)
                    }
                })
                .collect();
            spec.pad(hex)
        }
        ('v' | 'd' | 'b' | 'o' | 'x' | 'X' | 'c' | 'q' | 'U', Value::Number(n))
            if !n.is_f64() || verb != 'v' =>
        {
            // Integral floats are accepted by %d and friends since JSON may have widened ints.
            match int_of(n) {
                Some(i) => fmt_int(spec, verb, i),
                None if verb == 'v' => fmt_float(spec, 'g', n.as_f64().unwrap_or(0.0)),
                None => bad_verb(verb, v),
            }
        }
        ('v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Number(n)) => fmt_float(
            spec,
            if verb == 'v' { 'g' } else { verb },
            n.as_f64().unwrap_or(0.0),
        ),
        (verb, v) => bad_verb(verb, v),
    }
}

fn fmt_int(spec: &Spec, verb: char, i: i128) -> String {
    let mag = i.unsigned_abs();
    let mut digits = match verb {
        'b' => format!("{:b}", mag),
        'o' => format!("{:o}", mag),
        'x' => format!("{:x}", mag),
        'X' => format!("{:X}", mag),
        'U' => return spec.pad(format!("U+{:04X}", mag)),
        'c' | 'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            return spec.pad(if verb == 'c' {
                c.to_string()
            } else {
                format!("'{}'", c)
            });
        }
        _ => mag.to_string(),
    };
    if let Some(p) = spec.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        // One allocation: inserting the zeros one by one was quadratic in the precision.
        if digits.len() < p {
            digits = "0".repeat(p - digits.len()) + &digits;
        }
    }
    let prefix = match (spec.sharp, verb) {
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        (true, 'b') => "0b",
        (true, 'o') if !digits.starts_with('0') => "0",
        _ => "",
    };
    let head = format!("{}{}", spec.sign(i < 0), prefix);
    // Go ignores the 0 flag when a precision is given for integers.
    let spec = Spec {
        zero: spec.zero && spec.prec.is_none(),
        ..*spec
    };
    spec.pad_num(&head, &digits)
}

fn fmt_float(spec: &Spec, verb: char, f: f64) -> String {
    let a = f.abs();
    let upper = verb.is_ascii_uppercase();
    let body = match verb {
        'e' | 'E' => {
            let p = spec.prec.unwrap_or(6);
            let (digits, dp) = float_digits(a, Some(p + 1));
            fmt_e(&digits, dp, p, upper)
        }
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        _ => fmt_g(a, spec.prec, upper),
    };
    spec.pad_num(spec.sign(f.is_sign_negative()), &body)
}

#[cfg(test)]
mod tests {
    use super::sprintf;
    use crate::template::testutil::{r, ri};
    use serde_json::json;

    #[test]
    fn printf_basic() {
        assert_eq!(ri(r#"{{printf "%s-%d" .A .N}}"#), "x-7");
        assert_eq!(
            ri(r#"{{printf "%v|%t|%q" .Args .State.Running .A}}"#),
            r#"[sh -c echo hi]|true|"x""#
        );
        assert_eq!(ri(r#"{{printf "%d%%" 50}}"#), "50%");
    }

    #[test]
    fn printf_width_flags() {
        assert_eq!(
            ri(r#"{{printf "[%-10s][%5d][%05d][%-5d][%+d]" .A .N .N .N .N}}"#),
            "[x         ][    7][00007][7    ][+7]"
        );
        assert_eq!(
            ri(r#"{{printf "[%6.2f][%x][%X][%#x][%o][%b][%c]" .F 255 255 255 8 5 65}}"#),
            "[  1.50][ff][FF][0xff][10][101][A]"
        );
        assert_eq!(
            ri(r#"{{printf "%e|%g|%.3g|%v" 1234.5678 0.00001 3.14159 .Big}}"#),
            "1.234568e+03|1e-05|3.14|1e+06"
        );
        assert_eq!(ri(r#"{{printf "%*d|%-*d|" 4 1 3 2}}"#), "   1|2  |");
    }

    #[test]
    fn printf_refuses_huge_widths_as_go() {
        // Found by the template fuzz target: "%1111111111v" allocated a gigabyte of padding.
        assert_eq!(
            sprintf("%1111111111v|", &[json!(1)]),
            "%!(NOVERB)%!(EXTRA int=1)"
        );
        assert_eq!(
            sprintf("%.1111111111s", &[json!("x")]),
            "%!(NOVERB)%!(EXTRA string=x)"
        );
        assert_eq!(
            sprintf("%*d", &[json!(2_000_000), json!(1)]),
            "%!(BADWIDTH)1"
        );
        assert_eq!(
            sprintf("%.*s", &[json!(-2_000_000), json!("x")]),
            "%!(BADPREC)x"
        );
        assert_eq!(
            sprintf("%1000000d", &[json!(1)]).len(),
            1_000_000,
            "a million is fine"
        );
    }

    #[test]
    fn integer_precision_pads_in_linear_time() {
        // Found by the template fuzz target: "%.909092d" ran past 10 seconds.
        let out = sprintf("%.909092d|%.3d|%.0d", &[json!(-7), json!(5), json!(0)]);
        assert_eq!(out.len(), 1 + 909_092 + "|005|".len());
        assert!(out.starts_with("-000") && out.ends_with("7|005|"));
    }

    #[test]
    fn printf_bad_args() {
        assert_eq!(ri(r#"{{printf "%d %s"  .N}}"#), "7 %!s(MISSING)");
        assert_eq!(ri(r#"{{printf "%d" .N .A}}"#), "7%!(EXTRA string=x)");
        assert_eq!(ri(r#"{{printf "%d" .A}}"#), "%!d(string=x)");
        assert_eq!(ri(r#"{{printf "%s" .State.Health}}"#), "%!s(<nil>)");
    }

    #[test]
    fn printf_precision_on_string_via_pipe() {
        assert_eq!(ri(r#"{{.Id | printf "%.12s"}}"#), "0123456789ab");
        assert_eq!(
            ri(r#"{{printf "%.3s|%8.3s|" "héllo" "abcdef"}}"#),
            "hél|     abc|"
        );
    }

    #[test]
    fn value_printing() {
        assert_eq!(ri("{{.Args}}"), "[sh -c echo hi]");
        assert_eq!(ri("{{.M}}"), "map[a:2 m:3 z:1]");
        assert_eq!(ri("{{.Nested}}"), "map[Obj:map[k:v n:[1 2]]]");
        assert_eq!(
            ri("{{.F}} {{.Big}} {{.N}} {{.Zero}} {{-3}} {{1e3}} {{0x10}}"),
            "1.5 1e+06 7 0 -3 1000 16"
        );
        assert_eq!(r("{{.}}", &json!(2.0)), "2");
        assert_eq!(r("{{.}}", &json!(123456.5)), "123456.5");
        assert_eq!(r("{{.}}", &json!(0.0001)), "0.0001");
        assert_eq!(r("{{.}}", &json!(u64::MAX)), "18446744073709551615");
        assert_eq!(ri("{{.}}").chars().next(), Some('m'));
    }
}
