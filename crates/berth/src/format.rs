//! Docker-style aligned tables and the list commands' `--format` handling;
//! the templates themselves are [`crate::template`].

use crate::template::{FormatError, Template};
use serde_json::Value;

const TAB_MINWIDTH: usize = 10;
const TAB_PADDING: usize = 3;

/// Writes rows as aligned columns like Go's text/tabwriter with Docker's settings (minwidth 10, tabwidth 1, padding 3, padchar ' '); the last cell of a line is not padded.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    tab_format(&lines, &mut widths, 0, lines.len(), &mut out);
    out
}

/// Go's tabwriter.format: a column block is a run of consecutive lines that all have
/// a tab-terminated cell in this column; each block gets its own width.
fn tab_format(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut start = line0;
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        tab_write_lines(lines, widths, start, this, out);
        start = this;
        let mut width = TAB_MINWIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + TAB_PADDING);
            this += 1;
        }
        widths.push(width);
        tab_format(lines, widths, start, this, out);
        widths.pop();
        start = this;
    }
    tab_write_lines(lines, widths, start, line1, out);
}

fn tab_write_lines(
    lines: &[Vec<&str>],
    widths: &[usize],
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                let len = cell.chars().count();
                out.push_str(&" ".repeat(w.saturating_sub(len)));
            }
        }
        // The text after the final newline is a partial line: Go emits it without a newline.
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

// ---------------------------------------------------------------- list commands

/// How a list command should print, decided from its --format value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns with a header row; `template` is the part after "table ".
    Table {
        /// Per-row template, with `\t`/`\n` escapes already turned into real characters.
        template: String,
    },
    /// A template without the "table" prefix: one rendered line per item, no header.
    Raw(String),
    /// "json": one JSON object per line.
    Json,
}

/// Docker's preFormat: shells pass `\t` literally, so the two-character escapes become real tabs/newlines.
fn docker_unescape(s: &str) -> String {
    s.trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Parses a --format value ("table {{.ID}}\t{{.Names}}", "{{.ID}}", "json", "table"=default).
pub fn list_format(format: Option<&str>, default_table: &str) -> ListFormat {
    let table = |t: &str| ListFormat::Table {
        template: docker_unescape(t.strip_prefix("table").unwrap_or(t)),
    };
    match format {
        None | Some("") | Some("table") => table(default_table),
        Some(f) if f.trim() == "json" => ListFormat::Json,
        Some(f) if f.starts_with("table") => table(f),
        Some(f) => ListFormat::Raw(docker_unescape(f)),
    }
}

/// [`render_list`] printed to stdout, as every list command ends; a bad template exits 1.
pub fn print_list(fmt: &ListFormat, headers: &Value, items: &[Value]) -> crate::CmdResult {
    let text = render_list(fmt, headers, items).map_err(|e| crate::Exit {
        code: 1,
        message: e.to_string(),
    })?;
    print!("{text}");
    Ok(0)
}

/// Renders a list: a header row (from `headers`, a field-name → header-text object) plus rows through tabwrite for Table, one line per item otherwise.
pub fn render_list(
    fmt: &ListFormat,
    headers: &Value,
    items: &[Value],
) -> Result<String, FormatError> {
    let mut out = String::new();
    match fmt {
        ListFormat::Table { template } => {
            let tmpl = Template::parse(template)?;
            out.push_str(&tmpl.render_header(headers)?);
            out.push('\n');
            for item in items {
                out.push_str(&tmpl.render(item)?);
                out.push('\n');
            }
            out = tabwrite(&out);
        }
        ListFormat::Raw(template) => {
            let tmpl = Template::parse(template)?;
            for item in items {
                out.push_str(&tmpl.render(item)?);
                out.push('\n');
            }
        }
        ListFormat::Json => {
            for item in items {
                out.push_str(&serde_json::to_string(item).map_err(|e| FormatError(e.to_string()))?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabwrite_docker_example() {
        assert_eq!(
            tabwrite("CONTAINER ID\tIMAGE\nabc\tbusybox\n"),
            "CONTAINER ID   IMAGE\nabc            busybox\n"
        );
    }

    #[test]
    fn tabwrite_minwidth_and_columns() {
        assert_eq!(tabwrite("a\tb\n"), "a         b\n");
        assert_eq!(
            tabwrite("NAME\tID\tSTATUS\nlongername-here\t1\tup\nx\t22\tdown"),
            "NAME              ID        STATUS\nlongername-here   1         up\nx                 22        down"
        );
        // Trailing tabs make a column too, so its cell gets padded.
        assert_eq!(tabwrite("a\tb\t\n"), "a         b         \n");
        assert_eq!(tabwrite("héllo\tx\n"), "héllo     x\n");
        assert_eq!(tabwrite(""), "");
    }

    #[test]
    fn tabwrite_blocks_break_on_tabless_lines() {
        // A line without a tab ends the column block, so widths are computed separately.
        assert_eq!(
            tabwrite("a-very-long-cell\t1\nplain line\nb\t2\n"),
            "a-very-long-cell   1\nplain line\nb         2\n"
        );
    }

    #[test]
    fn list_format_parsing() {
        let def = "table {{.ID}}\\t{{.Names}}";
        assert_eq!(
            list_format(None, def),
            ListFormat::Table {
                template: "{{.ID}}\t{{.Names}}".into()
            }
        );
        assert_eq!(
            list_format(Some("table"), def),
            ListFormat::Table {
                template: "{{.ID}}\t{{.Names}}".into()
            }
        );
        assert_eq!(
            list_format(Some(""), "{{.ID}}"),
            ListFormat::Table {
                template: "{{.ID}}".into()
            }
        );
        assert_eq!(
            list_format(Some("table {{.ID}}\\t{{.Image}}"), def),
            ListFormat::Table {
                template: "{{.ID}}\t{{.Image}}".into()
            }
        );
        assert_eq!(
            list_format(Some("{{.ID}}"), def),
            ListFormat::Raw("{{.ID}}".into())
        );
        assert_eq!(
            list_format(Some("{{.ID}}\\n"), def),
            ListFormat::Raw("{{.ID}}\n".into())
        );
        assert_eq!(list_format(Some("json"), def), ListFormat::Json);
        assert_eq!(list_format(Some(" json "), def), ListFormat::Json);
    }

    #[test]
    fn render_list_table() {
        let headers = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Names": "NAMES"});
        let items = vec![
            json!({"ID": "abc", "Image": "busybox", "Names": "web"}),
            json!({"ID": "defdefdefdef", "Image": "alpine:latest", "Names": "db"}),
        ];
        let fmt = list_format(Some("table {{.ID}}\\t{{.Image}}\\t{{upper .Names}}"), "");
        let out = render_list(&fmt, &headers, &items).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE           NAMES\n\
             abc            busybox         WEB\n\
             defdefdefdef   alpine:latest   DB\n"
        );
        // Headers only, even with no rows; unknown header fields print empty.
        let fmt = list_format(Some("table {{.ID}}\t{{.Size}}"), "");
        assert_eq!(
            render_list(&fmt, &headers, &[]).unwrap(),
            "CONTAINER ID   \n"
        );
    }

    #[test]
    fn render_list_raw_and_json() {
        let headers = json!({"ID": "CONTAINER ID"});
        let items = vec![json!({"ID": "a", "N": 1}), json!({"ID": "b", "N": 2})];
        let raw = render_list(&list_format(Some("{{.ID}}:{{.N}}"), ""), &headers, &items).unwrap();
        assert_eq!(raw, "a:1\nb:2\n");
        let js = render_list(&ListFormat::Json, &headers, &items).unwrap();
        assert_eq!(js, "{\"ID\":\"a\",\"N\":1}\n{\"ID\":\"b\",\"N\":2}\n");
        assert!(render_list(&ListFormat::Raw("{{bogus}}".into()), &headers, &items).is_err());
    }
}
