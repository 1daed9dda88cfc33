//! Output helpers shared by the listing commands: docker's `--format`
//! templates (the `{{.Field}}` subset scripts use), human sizes and ages.

use std::collections::BTreeMap;

/// A row of named fields, rendered by a template or as a table.
pub type Row = BTreeMap<&'static str, String>;

/// Renders rows with a docker-style `--format`: `table` prefix for a header,
/// `{{.Field}}` placeholders, `{{json .}}` for the whole row, `\t` and `\n`.
/// `headers` names columns whose header is not just the field name in
/// capitals (docker's "IMAGE ID" for `{{.ID}}`).
pub fn render(format: &str, rows: &[Row], headers: &[(&str, &str)]) -> Result<String, String> {
    // docker's `--format json`: one JSON object per row and line.
    let format = if format.trim() == "json" { "{{json .}}" } else { format };
    let (table, tpl) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, format.to_string()),
    };
    let tpl = tpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = Vec::new();
    if table {
        out.push(substitute(&tpl, &|field| {
            let name = field.trim_start_matches('.');
            Ok(headers.iter().find(|(f, _)| *f == name).map_or_else(|| header(field), |(_, h)| h.to_string()))
        })?);
    }
    for row in rows {
        out.push(substitute(&tpl, &|field| {
            if field == "json ." {
                return serde_json::to_string(row).map_err(|e| e.to_string());
            }
            let name =
                field.strip_prefix('.').ok_or_else(|| format!("template: unsupported action {{{{{field}}}}}"))?;
            row.get(name).cloned().ok_or_else(|| format!("template: can't evaluate field {name}"))
        })?);
    }
    if table {
        Ok(align(&out))
    } else {
        Ok(out.join("\n"))
    }
}

fn header(field: &str) -> String {
    let name = field.trim_start_matches('.');
    let mut out = String::new();
    let mut prev_upper = true;
    for c in name.chars() {
        if c.is_uppercase() && !prev_upper {
            out.push(' ');
        }
        prev_upper = c.is_uppercase();
        out.extend(c.to_uppercase());
    }
    out
}

fn substitute(tpl: &str, value: &dyn Fn(&str) -> Result<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or("template: unclosed {{")? + start;
        out.push_str(&value(rest[start + 2..end].trim())?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Lines whose cells are separated by tabs, aligned into columns with at
/// least three spaces between them (docker's tabwriter settings).
pub fn align(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (i, c) in row.iter().enumerate() {
                line.push_str(c);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sizes the way docker prints them: SI units, three significant digits.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let s = if v >= 100.0 || u == 0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{}", units[u])
}

/// "3 days ago", as docker's CREATED column.
pub fn ago(then_secs: i64, now_secs: i64) -> String {
    let d = (now_secs - then_secs).max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("{} {unit} ago", if unit == "hour" { "An" } else { "1" })
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match d {
        0..=59 => "Less than a minute ago".into(),
        60..=3599 => plural(d / 60, "minute"),
        3600..=172_799 => plural(d / 3600, "hour"),
        172_800..=1_209_599 => plural(d / 86_400, "day"),
        1_209_600..=5_183_999 => plural(d / 604_800, "week"),
        5_184_000..=63_071_999 => plural(d / 2_592_000, "month"),
        _ => plural(d / 31_536_000, "year"),
    }
}

pub use engine::engine::parse_rfc3339;

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_tables() {
        let mut r = Row::new();
        r.insert("Repository", "busybox".into());
        r.insert("Tag", "latest".into());
        assert_eq!(render("{{.Repository}}:{{.Tag}}", &[r.clone()], &[]).unwrap(), "busybox:latest");
        assert_eq!(
            render("table {{.Repository}}\\t{{.Tag}}", &[r.clone()], &[]).unwrap(),
            "REPOSITORY   TAG\nbusybox      latest"
        );
        assert_eq!(render("table {{.Tag}}", &[r.clone()], &[("Tag", "LABEL")]).unwrap(), "LABEL\nlatest");
        assert_eq!(render("{{json .}}", &[r.clone()], &[]).unwrap(), r#"{"Repository":"busybox","Tag":"latest"}"#);
        assert!(render("{{.Nope}}", &[r], &[]).unwrap_err().contains("can't evaluate field Nope"));
    }

    #[test]
    fn sizes_and_ages_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(1_200_000_000), "1.2GB");
        assert_eq!(ago(0, 30), "Less than a minute ago");
        assert_eq!(ago(0, 3 * 86_400), "3 days ago");
        assert_eq!(ago(0, 3600), "An hour ago");
    }

    #[test]
    fn rfc3339_parses() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:00.123456789Z"), Some(1_795_435_200));
        assert_eq!(parse_rfc3339("2026-11-23T13:00:00+01:00"), Some(1_795_435_200));
        assert_eq!(parse_rfc3339("junk"), None);
    }
}
