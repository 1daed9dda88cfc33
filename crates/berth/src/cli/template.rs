//! `--format` for `inspect`: the part of Go's text/template that scripts
//! use on docker's JSON documents: `{{.A.B}}`, `{{json .A}}`,
//! `{{index .A "key"}}`, `{{(index .A "k").B}}`, `{{range .A}}…{{end}}`,
//! `{{if .A}}…{{else}}…{{end}}`, `{{join .A ","}}`, `{{len .A}}`,
//! `{{upper …}}`/`{{lower …}}` and `{{println …}}`.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

#[derive(Debug)]
enum Node {
    Text(String),
    Print(Expr),
    Range(Expr, Vec<Node>),
    If(Expr, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
enum Expr {
    /// `.A.B` relative to dot (`.` alone: dot itself).
    Field(Vec<String>),
    Str(String),
    /// `(expr).A.B`
    Sub(Box<Expr>, Vec<String>),
    Call(String, Vec<Expr>),
}

/// Prints `inspect` documents as docker does: an indented JSON array
/// without a format, a compact one for `--format json`, otherwise the
/// template once per document.
pub fn print_inspect(format: Option<&str>, docs: &[Value]) -> Result<()> {
    match format.map(str::trim) {
        None | Some("") => println!("{}", serde_json::to_string_pretty(docs)?),
        Some("json") => println!("{}", serde_json::to_string(docs)?),
        Some(f) => {
            for d in docs {
                println!("{}", render(f, d)?);
            }
        }
    }
    Ok(())
}

/// Renders `tpl` against `doc`.
pub fn render(tpl: &str, doc: &Value) -> Result<String> {
    let tpl = tpl.replace("\\t", "\t").replace("\\n", "\n");
    let tokens = lex(&tpl)?;
    let mut pos = 0;
    let (nodes, end) = parse(&tokens, &mut pos)?;
    if let Some(e) = end {
        bail!("template: unexpected {{{{{e}}}}}");
    }
    let mut out = String::new();
    exec(&nodes, doc, &mut out)?;
    Ok(out)
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(tpl: &str) -> Result<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| anyhow!("template: unclosed action in {tpl:?}"))?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix('-') {
            text = text.trim_end();
            action = a;
        }
        let mut next = &after[end + 2..];
        if let Some(a) = action.strip_suffix('-') {
            next = next.trim_start();
            action = a;
        }
        if !text.is_empty() {
            out.push(Tok::Text(text.to_string()));
        }
        out.push(Tok::Action(action.trim().to_string()));
        rest = next;
    }
    if !rest.is_empty() {
        out.push(Tok::Text(rest.to_string()));
    }
    Ok(out)
}

/// Parses until `end`/`else` (returned) or the end of input.
fn parse(tokens: &[Tok], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < tokens.len() {
        let tok = &tokens[*pos];
        *pos += 1;
        match tok {
            Tok::Text(t) => nodes.push(Node::Text(t.clone())),
            Tok::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a.clone()))),
            Tok::Action(a) => {
                if let Some(rest) = a.strip_prefix("range ") {
                    let expr = parse_expr(rest)?;
                    let (body, end) = parse(tokens, pos)?;
                    if end.as_deref() != Some("end") {
                        bail!("template: range without end");
                    }
                    nodes.push(Node::Range(expr, body));
                } else if let Some(rest) = a.strip_prefix("if ") {
                    let expr = parse_expr(rest)?;
                    let (then, end) = parse(tokens, pos)?;
                    let otherwise = match end.as_deref() {
                        Some("end") => Vec::new(),
                        Some("else") => match parse(tokens, pos)? {
                            (e, Some(x)) if x == "end" => e,
                            _ => bail!("template: if without end"),
                        },
                        _ => bail!("template: if without end"),
                    };
                    nodes.push(Node::If(expr, then, otherwise));
                } else {
                    nodes.push(Node::Print(parse_expr(a)?));
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_expr(s: &str) -> Result<Expr> {
    let words = split_words(s)?;
    let Some(first) = words.first() else { bail!("template: empty action") };
    let mut terms = words.iter().map(|w| parse_term(w)).collect::<Result<Vec<_>>>()?;
    if first.starts_with('.') || first.starts_with('"') || first.starts_with('(') {
        if terms.len() != 1 {
            bail!("template: can't give argument to non-function {first}");
        }
        return Ok(terms.remove(0));
    }
    const FUNCS: &[&str] = &["json", "index", "join", "len", "upper", "lower", "println", "print", "title", "not"];
    if !FUNCS.contains(&first.as_str()) {
        bail!("template: function {first:?} not defined");
    }
    terms.remove(0);
    Ok(Expr::Call(first.clone(), terms))
}

fn parse_term(w: &str) -> Result<Expr> {
    if let Some(s) = w.strip_prefix('"') {
        let s = s.strip_suffix('"').ok_or_else(|| anyhow!("template: unterminated string {w}"))?;
        return Ok(Expr::Str(s.replace("\\\"", "\"")));
    }
    if let Some(inner) = w.strip_prefix('(') {
        let close = inner.rfind(')').ok_or_else(|| anyhow!("template: unclosed ( in {w}"))?;
        let sub = parse_expr(&inner[..close])?;
        return Ok(Expr::Sub(Box::new(sub), path(&inner[close + 1..])));
    }
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Expr::Str(w.to_string()));
    }
    if w.starts_with('.') {
        return Ok(Expr::Field(path(w)));
    }
    Ok(Expr::Call(w.to_string(), Vec::new()))
}

fn path(s: &str) -> Vec<String> {
    s.split('.').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// Words separated by spaces, keeping "strings" and (groups) whole.
fn split_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let mut in_str = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if depth == 0 || in_str => {
                in_str = !in_str;
                cur.push(c);
            }
            '\\' if in_str => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '(' if !in_str => {
                depth += 1;
                cur.push(c);
            }
            ')' if !in_str => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 && !in_str => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_str || depth != 0 {
        bail!("template: unbalanced quotes or parentheses in {s:?}");
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn field(v: &Value, path: &[String]) -> Result<Value> {
    let mut v = v.clone();
    for p in path {
        v = match v {
            Value::Object(mut m) => m.remove(p).unwrap_or(Value::Null),
            Value::Null => Value::Null,
            other => bail!("template: can't evaluate field {p} in type {}", type_name(&other)),
        };
    }
    Ok(v)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn eval(e: &Expr, dot: &Value) -> Result<Value> {
    match e {
        Expr::Field(p) => field(dot, p),
        Expr::Str(s) => Ok(Value::String(s.clone())),
        Expr::Sub(inner, p) => field(&eval(inner, dot)?, p),
        Expr::Call(name, args) => {
            let args = args.iter().map(|a| eval(a, dot)).collect::<Result<Vec<_>>>()?;
            call(name, &args)
        }
    }
}

fn call(name: &str, args: &[Value]) -> Result<Value> {
    let arg = |i: usize| args.get(i).ok_or_else(|| anyhow!("template: {name}: missing argument"));
    Ok(match name {
        "json" => Value::String(serde_json::to_string(arg(0)?)?),
        "index" => {
            let mut v = arg(0)?.clone();
            for key in &args[1..] {
                v = match (&v, key) {
                    (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .ok_or_else(|| anyhow!("template: index out of range: {n}"))?,
                    (Value::Array(a), Value::String(s)) => s
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| a.get(i).cloned())
                        .ok_or_else(|| anyhow!("template: index out of range: {s}"))?,
                    (Value::Null, _) => Value::Null,
                    (other, _) => bail!("template: can't index item of type {}", type_name(other)),
                };
            }
            v
        }
        "join" => {
            let sep = text(arg(1)?);
            match arg(0)? {
                Value::Array(a) => Value::String(a.iter().map(text).collect::<Vec<_>>().join(&sep)),
                Value::Null => Value::String(String::new()),
                other => bail!("template: join: expected a list, got {}", type_name(other)),
            }
        }
        "len" => Value::from(match arg(0)? {
            Value::Array(a) => a.len(),
            Value::Object(m) => m.len(),
            Value::String(s) => s.len(),
            Value::Null => 0,
            other => bail!("template: len of {}", type_name(other)),
        }),
        "upper" => Value::String(text(arg(0)?).to_uppercase()),
        "lower" => Value::String(text(arg(0)?).to_lowercase()),
        "title" => {
            let t = text(arg(0)?);
            let mut c = t.chars();
            Value::String(c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default())
        }
        "print" => Value::String(args.iter().map(text).collect::<Vec<_>>().join(" ")),
        "println" => Value::String(args.iter().map(text).collect::<Vec<_>>().join(" ") + "\n"),
        "not" => Value::Bool(!truthy(arg(0)?)),
        _ => bail!("template: function {name:?} not defined"),
    })
}

/// How Go prints a value: strings bare, nil as `<no value>`, maps and
/// lists in Go's `map[k:v]` / `[a b]` notation.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", text(v))).collect::<Vec<_>>().join(" "))
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn exec(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Print(e) => out.push_str(&text(&eval(e, dot)?)),
            Node::If(e, then, otherwise) => {
                if truthy(&eval(e, dot)?) {
                    exec(then, dot, out)?;
                } else {
                    exec(otherwise, dot, out)?;
                }
            }
            Node::Range(e, body) => match eval(e, dot)? {
                Value::Array(items) => {
                    for item in &items {
                        exec(body, item, out)?;
                    }
                }
                Value::Object(m) => {
                    for item in m.values() {
                        exec(body, item, out)?;
                    }
                }
                Value::Null => {}
                other => bail!("template: range can't iterate over {}", type_name(&other)),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "Name": "/web",
            "State": {"Status": "running", "Pid": 42, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {}},
            "NetworkSettings": {"Networks": {"app": {"IPAddress": "10.89.0.2"}, "bridge": {"IPAddress": "10.88.0.5"}}},
        })
    }

    #[test]
    fn fields_json_and_missing_values_print_like_go() {
        assert_eq!(render("{{.State.Status}} {{.State.Pid}}", &doc()).unwrap(), "running 42");
        assert_eq!(render("{{json .Config.Env}}", &doc()).unwrap(), r#"["A=1","B=2"]"#);
        assert_eq!(render("{{.Nope}}", &doc()).unwrap(), "<no value>");
        assert_eq!(render("{{.Config.Env}}", &doc()).unwrap(), "[A=1 B=2]");
    }

    #[test]
    fn index_range_if_and_functions() {
        assert_eq!(render(r#"{{(index .NetworkSettings.Networks "app").IPAddress}}"#, &doc()).unwrap(), "10.89.0.2");
        assert_eq!(render("{{index .Config.Env 1}}", &doc()).unwrap(), "B=2");
        assert_eq!(
            render("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", &doc()).unwrap(),
            "10.89.0.2 10.88.0.5 "
        );
        assert_eq!(render("{{if .State.Running}}up{{else}}down{{end}}", &doc()).unwrap(), "up");
        assert_eq!(render("{{if .Config.Labels}}x{{else}}none{{end}}", &doc()).unwrap(), "none");
        assert_eq!(render(r#"{{join .Config.Env ","}}"#, &doc()).unwrap(), "A=1,B=2");
        assert_eq!(render("{{len .Config.Env}} {{upper .State.Status}}", &doc()).unwrap(), "2 RUNNING");
        assert_eq!(render("a {{- .State.Pid -}} b", &doc()).unwrap(), "a42b");
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        assert!(render("{{.State", &doc()).unwrap_err().to_string().contains("unclosed"));
        assert!(render("{{range .Config.Env}}x", &doc()).unwrap_err().to_string().contains("without end"));
        assert!(render("{{frobnicate .X}}", &doc()).unwrap_err().to_string().contains("not defined"));
        assert!(render("{{.Name.Sub}}", &doc()).unwrap_err().to_string().contains("can't evaluate field Sub"));
    }
}
