//! One instruction, from its logical line to a [`Kind`]: keyword, flags, the argument forms
//! (JSON/exec or shell, key=value pairs, whitespace-separated words), heredoc bodies.
//!
//! Nothing is expanded here: values are kept as written so the builder can expand them with the
//! ARG and ENV values of the moment (see [`super::expand_kind`]).

use std::time::Duration;

use super::heredoc::{self, read_bodies};
use super::lexer::{extract_flags, quoted_words, split_keyword, split_whitespace, Source};
use super::mount::parse_mount;
use super::{Arg, Command, Copy, Healthcheck, Instr, Kind};

/// A parsed instruction: FROM starts a stage, everything else belongs to one.
#[derive(Debug)]
pub(crate) enum Parsed {
    From { from: super::From, name: Option<String> },
    Instr(Instr),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
}

const KEYWORDS: &[(&str, Keyword)] = &[
    ("ADD", Keyword::Add),
    ("ARG", Keyword::Arg),
    ("CMD", Keyword::Cmd),
    ("COPY", Keyword::Copy),
    ("ENTRYPOINT", Keyword::Entrypoint),
    ("ENV", Keyword::Env),
    ("EXPOSE", Keyword::Expose),
    ("FROM", Keyword::From),
    ("HEALTHCHECK", Keyword::Healthcheck),
    ("LABEL", Keyword::Label),
    ("MAINTAINER", Keyword::Maintainer),
    ("ONBUILD", Keyword::Onbuild),
    ("RUN", Keyword::Run),
    ("SHELL", Keyword::Shell),
    ("STOPSIGNAL", Keyword::StopSignal),
    ("USER", Keyword::User),
    ("VOLUME", Keyword::Volume),
    ("WORKDIR", Keyword::Workdir),
];

fn keyword(word: &str) -> Result<Keyword, String> {
    if let Some((_, k)) = KEYWORDS.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)) {
        return Ok(*k);
    }
    let names: Vec<&str> = KEYWORDS.iter().map(|(name, _)| *name).collect();
    Err(match suggest(word, &names) {
        Some(s) => format!("unknown instruction: {word} (did you mean {s}?)"),
        None => format!("unknown instruction: {word}"),
    })
}

/// Parses one logical line that starts on `line`. Heredoc bodies are read from `src`, which is
/// positioned just after the line.
pub(crate) fn parse_instruction(text: &str, line: usize, src: &mut Source) -> Result<Parsed, String> {
    let text = text.trim();
    let (word, rest) = split_keyword(text);
    let keyword = keyword(word)?;
    let escape = src.escape;
    let (flag_words, args) = extract_flags(rest, escape);
    let flags = |spec: &[(&'static str, FlagType)]| Flags::parse(&flag_words, spec);
    use FlagType::{Bool, Many, One};

    let kind = match keyword {
        Keyword::From => {
            let f = flags(&[("platform", One)])?;
            return parse_from(args, f.string("platform"), line);
        }
        Keyword::Run => {
            let f = flags(&[("mount", Many), ("network", One), ("security", One)])?;
            parse_run(&f, args, src, line)?
        }
        Keyword::Cmd | Keyword::Entrypoint => {
            flags(&[])?;
            // With no arguments: none (docker clears the ENTRYPOINT this way).
            let cmd = if args.is_empty() { Command::Exec(Vec::new()) } else { command(args)? };
            if keyword == Keyword::Cmd {
                Kind::Cmd(cmd)
            } else {
                Kind::Entrypoint(cmd)
            }
        }
        Keyword::Shell => {
            flags(&[])?;
            match command(args)? {
                Command::Exec(v) if !v.is_empty() => Kind::Shell(v),
                Command::Exec(_) => return Err("SHELL requires at least one argument".to_string()),
                Command::Shell(s) if s.is_empty() => return Err("SHELL requires at least one argument".to_string()),
                Command::Shell(_) => {
                    return Err("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]"
                        .to_string())
                }
            }
        }
        Keyword::Env => {
            flags(&[])?;
            Kind::Env(name_values(args, "ENV", escape)?)
        }
        Keyword::Label => {
            flags(&[])?;
            Kind::Label(name_values(args, "LABEL", escape)?)
        }
        Keyword::Arg => {
            flags(&[])?;
            Kind::Arg(parse_args(args, escape)?)
        }
        Keyword::Expose => {
            flags(&[])?;
            let ports = split_whitespace(args);
            if ports.is_empty() {
                return Err("EXPOSE requires at least one argument".to_string());
            }
            Kind::Expose(ports)
        }
        Keyword::Volume => {
            flags(&[])?;
            let list = match json_strings(args)? {
                Some(list) => list,
                None => split_whitespace(args),
            };
            if list.is_empty() {
                return Err("VOLUME requires at least one argument".to_string());
            }
            let mut volumes = Vec::with_capacity(list.len());
            for v in list {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".to_string());
                }
                volumes.push(v.to_string());
            }
            Kind::Volume(volumes)
        }
        Keyword::Workdir | Keyword::User | Keyword::StopSignal | Keyword::Maintainer => {
            flags(&[])?;
            if args.is_empty() {
                return Err(format!("{} requires exactly one argument", word.to_ascii_uppercase()));
            }
            let a = args.to_string();
            match keyword {
                Keyword::Workdir => Kind::Workdir(a),
                Keyword::User => Kind::User(a),
                Keyword::StopSignal => Kind::StopSignal(a),
                _ => Kind::Maintainer(a),
            }
        }
        Keyword::Copy => {
            let spec =
                [("chown", One), ("chmod", One), ("from", One), ("link", Bool), ("exclude", Many), ("parents", Bool)];
            Kind::Copy(parse_copy("COPY", &flags(&spec)?, args, src, line)?)
        }
        Keyword::Add => {
            let spec = [
                ("chown", One),
                ("chmod", One),
                ("link", Bool),
                ("exclude", Many),
                ("keep-git-dir", Bool),
                ("checksum", One),
                ("unpack", Bool),
            ];
            Kind::Add(parse_copy("ADD", &flags(&spec)?, args, src, line)?)
        }
        Keyword::Healthcheck => parse_healthcheck(&flag_words, args)?,
        Keyword::Onbuild => {
            flags(&[])?;
            parse_onbuild(args, line, src)?
        }
    };
    Ok(Parsed::Instr(Instr { line, text: text.to_string(), kind }))
}

fn parse_from(args: &str, platform: Option<String>, line: usize) -> Result<Parsed, String> {
    let words = split_whitespace(args);
    let name = match words.as_slice() {
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        _ => {
            return Err("FROM requires either one or three arguments: FROM [--platform=<platform>] <image> [AS <name>]"
                .to_string())
        }
    };
    Ok(Parsed::From { from: super::From { image: words[0].clone(), platform, line }, name })
}

fn parse_run(f: &Flags, args: &str, src: &mut Source, line: usize) -> Result<Kind, String> {
    let mounts = f
        .strings("mount")
        .iter()
        .map(|v| parse_mount(v).map_err(|e| format!("--mount={v}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let network = f.string("network");
    if let Some(n) = &network {
        if !["default", "none", "host"].contains(&n.as_str()) {
            return Err(format!("invalid network mode {n:?} (default, none or host)"));
        }
    }
    match f.string("security").as_deref() {
        None | Some("sandbox") => {}
        Some("insecure") => {
            return Err("RUN --security=insecure is not supported: build steps always run sandboxed".to_string())
        }
        Some(other) => return Err(format!("unsupported security mode {other:?} (sandbox or insecure)")),
    }
    if args.is_empty() {
        return Err("RUN requires at least one argument".to_string());
    }
    let cmd = command(args)?;
    let heredocs = match &cmd {
        Command::Shell(s) => read_bodies(heredoc::openers_in_shell(s), src, line)?,
        Command::Exec(_) => Vec::new(),
    };
    Ok(Kind::Run { cmd, mounts, network, heredocs })
}

fn parse_copy(name: &str, f: &Flags, args: &str, src: &mut Source, line: usize) -> Result<Copy, String> {
    if f.bool("parents") == Some(true) {
        return Err(format!("{name} --parents is not supported"));
    }
    let from = f.string("from");
    if from.as_deref().is_some_and(|s| s.contains('$')) {
        return Err(
            "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
                .to_string(),
        );
    }
    let (words, json) = match json_strings(args)? {
        Some(list) => (list, true),
        None => (split_whitespace(args), false),
    };
    let Some((dest, srcs)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(format!("{name} needs at least two arguments: one or more sources and a destination"));
    };
    if !json && heredoc::opener(dest).is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut openers = Vec::new();
    for s in srcs {
        match heredoc::opener(s).filter(|_| !json) {
            Some(o) => openers.push(o),
            None => sources.push(s.clone()),
        }
    }
    Ok(Copy {
        sources,
        dest: dest.clone(),
        from,
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link").unwrap_or(false),
        heredocs: read_bodies(openers, src, line)?,
        keep_git_dir: f.bool("keep-git-dir").unwrap_or(false),
        exclude: f.strings("exclude").to_vec(),
        checksum: f.string("checksum"),
        unpack: f.bool("unpack"),
    })
}

fn parse_healthcheck(flag_words: &[String], args: &str) -> Result<Kind, String> {
    if args.is_empty() {
        return Err("HEALTHCHECK requires at least one argument".to_string());
    }
    let (typ, rest) = match args.find(char::is_whitespace) {
        Some(i) => (&args[..i], args[i..].trim_start()),
        None => (args, ""),
    };
    if typ.eq_ignore_ascii_case("NONE") {
        if !rest.is_empty() || !flag_words.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".to_string());
        }
        return Ok(Kind::Healthcheck(None));
    }
    use FlagType::One;
    let spec = [("interval", One), ("timeout", One), ("start-period", One), ("start-interval", One), ("retries", One)];
    let f = Flags::parse(flag_words, &spec)?;
    if !typ.eq_ignore_ascii_case("CMD") {
        return Err(format!("Unknown type {:?} in HEALTHCHECK (try CMD)", typ.to_ascii_uppercase()));
    }
    let missing = || "Missing command after HEALTHCHECK CMD".to_string();
    let test = match command(rest)? {
        Command::Exec(v) if v.is_empty() => return Err(missing()),
        Command::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        Command::Shell(s) if s.is_empty() => return Err(missing()),
        Command::Shell(s) => vec!["CMD-SHELL".to_string(), s],
    };
    let interval = |name: &str| -> Result<Option<Duration>, String> {
        let Some(v) = f.string(name) else { return Ok(None) };
        let (negative, d) = parse_duration(&v).map_err(|e| format!("--{name}: {e}"))?;
        if !d.is_zero() && (negative || d < Duration::from_millis(1)) {
            return Err(format!("--{name} cannot be less than 1ms"));
        }
        // Docker stores 0 for "the default", which is what None says here.
        Ok(Some(d).filter(|d| !d.is_zero()))
    };
    let retries = match f.string("retries") {
        None => None,
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| format!("invalid value for --retries: {v:?}"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            let n = u32::try_from(n).ok().filter(|n| *n <= i32::MAX as u32);
            Some(n.ok_or_else(|| format!("invalid value for --retries: {v:?}"))?).filter(|n| *n != 0)
        }
    };
    Ok(Kind::Healthcheck(Some(Healthcheck {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })))
}

fn parse_onbuild(args: &str, line: usize, src: &mut Source) -> Result<Kind, String> {
    if args.is_empty() {
        return Err("ONBUILD requires at least one argument".to_string());
    }
    let (trigger, _) = split_keyword(args);
    match keyword(trigger) {
        Ok(Keyword::Onbuild) => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
        Ok(Keyword::From | Keyword::Maintainer) => {
            return Err(format!("{} isn't allowed as an ONBUILD trigger", trigger.to_ascii_uppercase()))
        }
        _ => {}
    }
    match parse_instruction(args, line, src)? {
        Parsed::Instr(i) => Ok(Kind::Onbuild(Box::new(i))),
        Parsed::From { .. } => Err("FROM isn't allowed as an ONBUILD trigger".to_string()),
    }
}

/// The exec form if the arguments are a JSON array of strings, else the shell form. Text that
/// starts with `[` but is not valid JSON is a shell command, as in docker (`RUN [ -f x ] && y`);
/// valid JSON with something other than strings is an error.
fn command(args: &str) -> Result<Command, String> {
    Ok(match json_strings(args)? {
        Some(list) => Command::Exec(list),
        None => Command::Shell(args.to_string()),
    })
}

fn json_strings(args: &str) -> Result<Option<Vec<String>>, String> {
    if !args.starts_with('[') {
        return Ok(None);
    }
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(args) else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("when using JSON array syntax, arrays must be comprised of strings only".to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// ENV and LABEL: `key=value ...`, or the legacy `key value` (everything after the key is the
/// value) when the first word has no `=`. Keys and values keep their quotes for expansion.
fn name_values(args: &str, instr: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = quoted_words(args, escape);
    let Some(first) = words.first() else {
        return Err(format!("{instr} requires at least one argument"));
    };
    if !first.contains('=') {
        let (key, value) = split_keyword(args);
        if value.is_empty() {
            return Err(format!("{instr} must have two arguments"));
        }
        return Ok(vec![(key.to_string(), value.to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            let Some((k, v)) = w.split_once('=') else {
                return Err(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"));
            };
            if k.is_empty() {
                return Err(format!("{instr} names can not be blank"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn parse_args(args: &str, escape: char) -> Result<Vec<Arg>, String> {
    let words = quoted_words(args, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument".to_string());
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((name, default)) => Ok(Arg { name: name.to_string(), default: Some(default.to_string()) }),
            None => Ok(Arg { name: w, default: None }),
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FlagType {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=value`, once.
    One,
    /// `--mount=value`, any number of times.
    Many,
}

/// An instruction's flags, checked against what it accepts.
struct Flags {
    values: Vec<(&'static str, Vec<String>)>,
}

impl Flags {
    fn parse(words: &[String], spec: &[(&'static str, FlagType)]) -> Result<Flags, String> {
        let mut values: Vec<(&'static str, Vec<String>)> = Vec::new();
        for w in words {
            let Some(body) = w.strip_prefix("--") else { return Err(format!("arg should start with -- : {w}")) };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(declared, ty)) = spec.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
                let hint = suggest(name, &names).map(|s| format!(" (did you mean --{s}?)")).unwrap_or_default();
                return Err(format!("unknown flag: --{name}{hint}"));
            };
            let value = match (ty, value) {
                (FlagType::Bool, None) => "true".to_string(),
                (FlagType::Bool, Some(v)) if v.eq_ignore_ascii_case("true") => "true".to_string(),
                (FlagType::Bool, Some(v)) if v.eq_ignore_ascii_case("false") => "false".to_string(),
                (_, None) | (FlagType::Bool, Some("")) => return Err(format!("missing a value on flag: --{name}")),
                (FlagType::Bool, Some(v)) => {
                    return Err(format!("expecting boolean value for flag --{name}, not: {v}"))
                }
                (_, Some(v)) => v.to_string(),
            };
            match values.iter_mut().find(|(n, _)| *n == declared) {
                Some(_) if ty != FlagType::Many => return Err(format!("duplicate flag specified: --{name}")),
                Some((_, list)) => list.push(value),
                None => values.push((declared, vec![value])),
            }
        }
        Ok(Flags { values })
    }

    fn strings(&self, name: &str) -> &[String] {
        self.values.iter().find(|(n, _)| *n == name).map_or(&[], |(_, v)| v.as_slice())
    }

    /// A single-valued flag; an empty value counts as not given, as in docker.
    fn string(&self, name: &str) -> Option<String> {
        self.strings(name).first().filter(|v| !v.is_empty()).cloned()
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.strings(name).first().map(|v| v == "true")
    }
}

/// Go's time.ParseDuration, which docker uses for HEALTHCHECK options: `30s`, `1m30s`, `1.5h`,
/// `500ms`, `0`. Returns whether it was negative, and its magnitude.
fn parse_duration(s: &str) -> Result<(bool, Duration), String> {
    let invalid = || format!("invalid duration {s:?}");
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (int, r) = rest.split_at(digits(rest));
        let (frac, r) = match r.strip_prefix('.') {
            Some(r) => r.split_at(digits(r)),
            None => ("", r),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = r.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(r.len());
        let (unit, r) = r.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("invalid duration {s:?}: missing unit (ms, s, m or h)")),
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        let int: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| invalid())? };
        // Digits beyond nanosecond precision cannot matter.
        let frac = &frac[..frac.len().min(18)];
        let frac_nanos = if frac.is_empty() {
            0
        } else {
            let f: u128 = frac.parse().map_err(|_| invalid())?;
            f * scale / 10u128.pow(frac.len() as u32)
        };
        nanos = int
            .checked_mul(scale)
            .and_then(|n| n.checked_add(frac_nanos))
            .and_then(|n| n.checked_add(nanos))
            .filter(|n| *n <= u64::MAX as u128)
            .ok_or_else(|| format!("invalid duration {s:?}: too large"))?;
        rest = r;
    }
    Ok((negative, Duration::from_nanos(nanos as u64)))
}

/// The candidate closest to `word` (ignoring case), if it is close enough to be a typo: one edit
/// for short words, two for longer ones; a swap of neighbours counts as one.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word: Vec<char> = word.to_lowercase().chars().collect();
    let limit = if word.len() >= 5 { 2 } else { 1 };
    candidates
        .iter()
        .map(|c| (distance(&word, &c.to_lowercase().chars().collect::<Vec<_>>()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::{Heredoc, MountKind};
    use super::*;

    /// Parses the first instruction of `text` (which may be followed by heredoc bodies).
    fn one(text: &str) -> Result<Kind, String> {
        let mut src = Source::new(text);
        src.directives().map_err(|e| e.message)?;
        let logical = src.next_logical().expect("an instruction");
        match parse_instruction(&logical.text, logical.line, &mut src)? {
            Parsed::Instr(i) => Ok(i.kind),
            Parsed::From { .. } => panic!("FROM"),
        }
    }

    fn err(text: &str) -> String {
        one(text).unwrap_err()
    }

    fn shell(s: &str) -> Command {
        Command::Shell(s.to_string())
    }

    fn exec(v: &[&str]) -> Command {
        Command::Exec(v.iter().map(|s| s.to_string()).collect())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn from(text: &str) -> Result<(super::super::From, Option<String>), String> {
        let mut src = Source::new(text);
        match parse_instruction(text, 1, &mut src)? {
            Parsed::From { from, name } => Ok((from, name)),
            Parsed::Instr(_) => panic!("not FROM"),
        }
    }

    #[test]
    fn keywords_are_case_insensitive_and_typos_get_a_suggestion() {
        assert_eq!(one("run make").unwrap(), one("RUN make").unwrap());
        assert_eq!(one("Workdir /app").unwrap(), Kind::Workdir("/app".into()));
        assert_eq!(err("RUNN make"), "unknown instruction: RUNN (did you mean RUN?)");
        assert_eq!(err("form alpine"), "unknown instruction: form (did you mean FROM?)");
        assert_eq!(err("ENTRYPIONT x"), "unknown instruction: ENTRYPIONT (did you mean ENTRYPOINT?)");
        assert_eq!(err("apt-get install -y curl"), "unknown instruction: apt-get");
    }

    #[test]
    fn exec_form_is_a_json_array_of_strings_anything_else_is_shell_form() {
        assert_eq!(
            one(r#"CMD ["nginx", "-g", "daemon off;"]"#).unwrap(),
            Kind::Cmd(exec(&["nginx", "-g", "daemon off;"]))
        );
        assert_eq!(
            one("ENTRYPOINT [\"/docker-entrypoint.sh\"]").unwrap(),
            Kind::Entrypoint(exec(&["/docker-entrypoint.sh"]))
        );
        assert_eq!(one("CMD echo $HOME").unwrap(), Kind::Cmd(shell("echo $HOME")));
        assert_eq!(one("CMD []").unwrap(), Kind::Cmd(exec(&[])));
        assert_eq!(one("ENTRYPOINT").unwrap(), Kind::Entrypoint(exec(&[])), "no arguments clears it");
        // Not JSON: docker falls back to the shell form.
        assert_eq!(one("CMD ['single', 'quotes']").unwrap(), Kind::Cmd(shell("['single', 'quotes']")));
        assert_eq!(one("CMD [\"unterminated]").unwrap(), Kind::Cmd(shell("[\"unterminated]")));
        assert!(matches!(
            one("RUN [ -f /etc/os-release ] && cat /etc/os-release").unwrap(),
            Kind::Run { cmd: Command::Shell(_), .. }
        ));
        assert_eq!(
            err("CMD [\"sleep\", 10]"),
            "when using JSON array syntax, arrays must be comprised of strings only"
        );
        assert_eq!(one(r#"CMD ["echo", "a\"b\u00e9"]"#).unwrap(), Kind::Cmd(exec(&["echo", "a\"bé"])), "JSON escapes");
    }

    #[test]
    fn run_keeps_its_shell_command_verbatim() {
        let Kind::Run { cmd, mounts, network, heredocs } =
            one("RUN set -eux; \\\n    apt-get update; \\\n    apt-get install -y --no-install-recommends ca-certificates\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            cmd,
            shell("set -eux;     apt-get update;     apt-get install -y --no-install-recommends ca-certificates")
        );
        assert!(mounts.is_empty() && network.is_none() && heredocs.is_empty());
        assert_eq!(err("RUN"), "RUN requires at least one argument");
        assert_eq!(err("RUN --network=none"), "RUN requires at least one argument");
    }

    #[test]
    fn run_flags_mounts_network_security() {
        let text = "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=netrc,target=/root/.netrc \\\n    --network=host pip install -r requirements.txt";
        let Kind::Run { cmd, mounts, network, .. } = one(text).unwrap() else { panic!() };
        assert_eq!(cmd, shell("pip install -r requirements.txt"));
        assert_eq!(mounts.iter().map(|m| m.kind).collect::<Vec<_>>(), [MountKind::Cache, MountKind::Secret]);
        assert_eq!(network.as_deref(), Some("host"));
        assert!(one("RUN --security=sandbox true").is_ok());
        assert_eq!(err("RUN --network=bridge true"), "invalid network mode \"bridge\" (default, none or host)");
        assert!(err("RUN --security=insecure true").contains("not supported"));
        assert_eq!(
            err("RUN --mount=type=cache true"),
            "--mount=type=cache: mount target not set: type=cache needs target=<path>"
        );
        assert_eq!(err("RUN --device=/dev/fuse true"), "unknown flag: --device");
        assert_eq!(err("RUN --mout=type=cache,target=/x true"), "unknown flag: --mout (did you mean --mount?)");
        assert_eq!(err("RUN --network true"), "missing a value on flag: --network");
        assert_eq!(err("RUN --network=host --network=none true"), "duplicate flag specified: --network");
    }

    #[test]
    fn flags_are_rejected_where_an_instruction_takes_none() {
        assert_eq!(err("CMD --verbose"), "unknown flag: --verbose");
        assert_eq!(err("ENV --x=1"), "unknown flag: --x");
        assert_eq!(err("WORKDIR --chown=app /app"), "unknown flag: --chown");
    }

    #[test]
    fn run_heredocs_keep_the_command_and_each_body() {
        let Kind::Run { cmd, heredocs, .. } = one("RUN <<EOF\napt-get update\napt-get install -y vim\nEOF\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(cmd, shell("<<EOF"));
        assert_eq!(
            heredocs,
            [Heredoc {
                name: "EOF".into(),
                content: "apt-get update\napt-get install -y vim\n".into(),
                expand: true,
                strip_tabs: false,
                target_fd: None
            }]
        );

        let Kind::Run { cmd, heredocs, .. } = one("RUN python3 <<'PY'\nprint(\"$HOME\")\nPY\n").unwrap() else {
            panic!()
        };
        assert_eq!(cmd, shell("python3 <<'PY'"));
        assert_eq!((heredocs[0].content.as_str(), heredocs[0].expand), ("print(\"$HOME\")\n", false));

        let text = "RUN <<FILE1 cat > file1 && <<-FILE2 cat > file2\nI am\nfirst\nFILE1\n\tI am\n\t\tsecond\n\tFILE2\n";
        let Kind::Run { heredocs, .. } = one(text).unwrap() else { panic!() };
        assert_eq!((heredocs[0].name.as_str(), heredocs[0].content.as_str()), ("FILE1", "I am\nfirst\n"));
        assert_eq!(
            (heredocs[1].name.as_str(), heredocs[1].content.as_str(), heredocs[1].strip_tabs),
            ("FILE2", "I am\nsecond\n", true)
        );

        let Kind::Run { heredocs, .. } = one("RUN cat 3<<EOF >&3\nx\nEOF\n").unwrap() else { panic!() };
        assert_eq!(heredocs[0].target_fd, Some(3));
    }

    #[test]
    fn heredocs_are_not_looked_for_in_exec_form_or_quotes() {
        let Kind::Run { heredocs, .. } = one("RUN [\"cat\", \"<<EOF\"]").unwrap() else { panic!() };
        assert!(heredocs.is_empty());
        let Kind::Run { heredocs, .. } = one("RUN echo '<<EOF' \"<<X\" $((1<<4))").unwrap() else { panic!() };
        assert!(heredocs.is_empty());
    }

    #[test]
    fn an_unterminated_heredoc_is_an_error_naming_where_it_started() {
        assert_eq!(
            err("RUN <<EOF\necho hi\neof\n"),
            "unterminated heredoc <<EOF started on line 1: no line with just `EOF` ends it"
        );
    }

    #[test]
    fn copy_sources_destination_and_flags() {
        let Kind::Copy(c) =
            one("COPY --from=builder --chown=app:app --chmod=0755 --link /go/bin/app /usr/local/bin/ /usr/bin/")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(c.sources, ["/go/bin/app", "/usr/local/bin/"]);
        assert_eq!(c.dest, "/usr/bin/");
        assert_eq!(
            (c.from.as_deref(), c.chown.as_deref(), c.chmod.as_deref(), c.link),
            (Some("builder"), Some("app:app"), Some("0755"), true)
        );

        let Kind::Copy(c) = one("COPY --link=false --exclude=*.md --exclude=.git . /src").unwrap() else { panic!() };
        assert_eq!((c.link, c.exclude.clone()), (false, strings(&["*.md", ".git"])));

        let Kind::Copy(c) = one(r#"COPY ["my file.txt", "other file", "/dest dir/"]"#).unwrap() else { panic!() };
        assert_eq!((c.sources.clone(), c.dest.as_str()), (strings(&["my file.txt", "other file"]), "/dest dir/"));
    }

    #[test]
    fn copy_errors() {
        assert_eq!(err("COPY app.py"), "COPY needs at least two arguments: one or more sources and a destination");
        assert_eq!(err("COPY"), "COPY needs at least two arguments: one or more sources and a destination");
        assert_eq!(err(r#"ADD ["only"]"#), "ADD needs at least two arguments: one or more sources and a destination");
        assert_eq!(err("COPY --chwon=1 a b"), "unknown flag: --chwon (did you mean --chown?)");
        assert_eq!(err("COPY --keep-git-dir a b"), "unknown flag: --keep-git-dir", "ADD only");
        assert_eq!(err("ADD --from=x a b"), "unknown flag: --from", "COPY only");
        assert_eq!(err("COPY --parents a/b /x/"), "COPY --parents is not supported");
        assert_eq!(err("COPY --link=yes a b"), "expecting boolean value for flag --link, not: yes");
        assert_eq!(err("COPY --link= a b"), "missing a value on flag: --link");
        assert!(err("COPY --from=$BUILDER a b").starts_with("variable expansion is not supported for --from"));
        assert_eq!(err("COPY a <<EOF\nx\nEOF\n"), "COPY cannot accept a heredoc as a destination");
    }

    #[test]
    fn copy_heredocs_become_inline_files() {
        let Kind::Copy(c) = one("COPY <<EOF /etc/motd\nWelcome to $HOSTNAME\nEOF\n").unwrap() else { panic!() };
        assert!(c.sources.is_empty());
        assert_eq!(c.dest, "/etc/motd");
        assert_eq!(
            (c.heredocs[0].name.as_str(), c.heredocs[0].content.as_str(), c.heredocs[0].expand),
            ("EOF", "Welcome to $HOSTNAME\n", true)
        );

        let text = "COPY --chmod=0755 <<run.sh <<-\"config.ini\" extra.txt /app/\n#!/bin/sh\nexec app\nrun.sh\n\t[main]\n\tconfig.ini\n";
        let Kind::Copy(c) = one(text).unwrap() else { panic!() };
        assert_eq!(c.sources, ["extra.txt"]);
        assert_eq!(c.heredocs.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["run.sh", "config.ini"]);
        assert_eq!(c.heredocs[0].content, "#!/bin/sh\nexec app\n");
        assert_eq!((c.heredocs[1].content.as_str(), c.heredocs[1].expand), ("[main]\n", false));
    }

    #[test]
    fn add_flags() {
        let text = "ADD --keep-git-dir=true --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d --unpack=false https://example.com/a.tar.gz /x/";
        let Kind::Add(c) = one(text).unwrap() else { panic!() };
        assert!(c.keep_git_dir);
        assert_eq!(
            c.checksum.as_deref(),
            Some("sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d")
        );
        assert_eq!(c.unpack, Some(false));
        let Kind::Add(c) = one("ADD app.tar.gz /opt/").unwrap() else { panic!() };
        assert_eq!((c.keep_git_dir, c.unpack, c.from), (false, None, None));
    }

    #[test]
    fn env_and_label_pairs_and_the_legacy_form() {
        assert_eq!(
            one(r#"ENV MY_NAME="John Doe" MY_DOG=Rex\ The\ Dog MY_CAT=fluffy"#).unwrap(),
            Kind::Env(pairs(&[("MY_NAME", "\"John Doe\""), ("MY_DOG", r"Rex\ The\ Dog"), ("MY_CAT", "fluffy")]))
        );
        assert_eq!(
            one("ENV JAVA_HOME /usr/lib/jvm/java 11").unwrap(),
            Kind::Env(pairs(&[("JAVA_HOME", "/usr/lib/jvm/java 11")]))
        );
        assert_eq!(one("ENV PATH=/app/bin:$PATH").unwrap(), Kind::Env(pairs(&[("PATH", "/app/bin:$PATH")])));
        assert_eq!(one("ENV EMPTY=").unwrap(), Kind::Env(pairs(&[("EMPTY", "")])));
        assert_eq!(
            one("LABEL \"com.example.vendor\"=\"ACME Incorporated\" version=\"1.0\" description=\"This text illustrates \\\nthat label-values can span multiple lines.\"").unwrap(),
            Kind::Label(pairs(&[
                ("\"com.example.vendor\"", "\"ACME Incorporated\""),
                ("version", "\"1.0\""),
                ("description", "\"This text illustrates that label-values can span multiple lines.\""),
            ]))
        );
        assert_eq!(err("ENV"), "ENV requires at least one argument");
        assert_eq!(err("ENV ONLYKEY"), "ENV must have two arguments");
        assert_eq!(err("LABEL a=1 b"), "Syntax error - can't find = in \"b\". Must be of the form: name=value");
        assert_eq!(err("ENV =value"), "ENV names can not be blank");
    }

    #[test]
    fn arg_names_and_defaults_several_per_line() {
        assert_eq!(
            one("ARG VERSION=1.2.3 TARGETARCH GREETING=\"hello world\" EMPTY=").unwrap(),
            Kind::Arg(vec![
                Arg { name: "VERSION".into(), default: Some("1.2.3".into()) },
                Arg { name: "TARGETARCH".into(), default: None },
                Arg { name: "GREETING".into(), default: Some("\"hello world\"".into()) },
                Arg { name: "EMPTY".into(), default: Some(String::new()) },
            ])
        );
        assert_eq!(err("ARG"), "ARG requires at least one argument");
        assert_eq!(err("ARG =x"), "ARG names can not be blank");
    }

    #[test]
    fn single_argument_instructions_keep_the_whole_rest() {
        assert_eq!(one("WORKDIR /path with spaces").unwrap(), Kind::Workdir("/path with spaces".into()));
        assert_eq!(one("USER 1000:1000").unwrap(), Kind::User("1000:1000".into()));
        assert_eq!(one("STOPSIGNAL SIGQUIT").unwrap(), Kind::StopSignal("SIGQUIT".into()));
        assert_eq!(
            one("MAINTAINER Jane Doe <jane@example.com>").unwrap(),
            Kind::Maintainer("Jane Doe <jane@example.com>".into())
        );
        assert_eq!(err("WORKDIR"), "WORKDIR requires exactly one argument");
        assert_eq!(err("user   "), "USER requires exactly one argument");
    }

    #[test]
    fn expose_and_volume_lists() {
        assert_eq!(one("EXPOSE 80/tcp 443 ${PORT}").unwrap(), Kind::Expose(strings(&["80/tcp", "443", "${PORT}"])));
        assert_eq!(
            one("VOLUME /var/lib/mysql /var/log").unwrap(),
            Kind::Volume(strings(&["/var/lib/mysql", "/var/log"]))
        );
        assert_eq!(one(r#"VOLUME ["/data", " /logs "]"#).unwrap(), Kind::Volume(strings(&["/data", "/logs"])));
        assert_eq!(err("EXPOSE"), "EXPOSE requires at least one argument");
        assert_eq!(err("VOLUME"), "VOLUME requires at least one argument");
        assert_eq!(err(r#"VOLUME ["/data", ""]"#), "VOLUME specified can not be an empty string");
        assert_eq!(err("VOLUME [1]"), "when using JSON array syntax, arrays must be comprised of strings only");
    }

    #[test]
    fn shell_requires_json() {
        assert_eq!(
            one(r#"SHELL ["/bin/bash", "-o", "pipefail", "-c"]"#).unwrap(),
            Kind::Shell(strings(&["/bin/bash", "-o", "pipefail", "-c"]))
        );
        assert!(err("SHELL /bin/bash -c").starts_with("SHELL requires the arguments to be in JSON form"));
        assert_eq!(err("SHELL []"), "SHELL requires at least one argument");
        assert_eq!(err("SHELL"), "SHELL requires at least one argument");
    }

    #[test]
    fn healthcheck_forms_and_options() {
        let Kind::Healthcheck(Some(h)) =
            one("HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --start-interval=500ms --retries=5 \\\n  CMD curl -f http://localhost/ || exit 1").unwrap()
        else {
            panic!()
        };
        assert_eq!(h.test, strings(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]));
        assert_eq!(h.interval, Some(Duration::from_secs(30)));
        assert_eq!(h.timeout, Some(Duration::from_secs(3)));
        assert_eq!(h.start_period, Some(Duration::from_secs(90)));
        assert_eq!(h.start_interval, Some(Duration::from_millis(500)));
        assert_eq!(h.retries, Some(5));

        let Kind::Healthcheck(Some(h)) = one(r#"healthcheck cmd ["pg_isready", "-U", "postgres"]"#).unwrap() else {
            panic!()
        };
        assert_eq!(h.test, strings(&["CMD", "pg_isready", "-U", "postgres"]));
        assert_eq!((h.interval, h.retries), (None, None));

        assert_eq!(one("HEALTHCHECK NONE").unwrap(), Kind::Healthcheck(None));
        assert_eq!(
            one("HEALTHCHECK --interval=0s CMD true").unwrap(),
            one("HEALTHCHECK CMD true").unwrap(),
            "0 means the default"
        );
    }

    #[test]
    fn healthcheck_errors() {
        assert_eq!(err("HEALTHCHECK"), "HEALTHCHECK requires at least one argument");
        assert_eq!(err("HEALTHCHECK NONE now"), "HEALTHCHECK NONE takes no arguments");
        assert_eq!(err("HEALTHCHECK --interval=5s NONE"), "HEALTHCHECK NONE takes no arguments");
        assert_eq!(err("HEALTHCHECK CMD"), "Missing command after HEALTHCHECK CMD");
        assert_eq!(err("HEALTHCHECK CMD []"), "Missing command after HEALTHCHECK CMD");
        assert_eq!(err("HEALTHCHECK curl localhost"), "Unknown type \"CURL\" in HEALTHCHECK (try CMD)");
        assert_eq!(
            err("HEALTHCHECK --interval=5 CMD true"),
            "--interval: invalid duration \"5\": missing unit (ms, s, m or h)"
        );
        assert_eq!(err("HEALTHCHECK --timeout=5x CMD true"), "--timeout: invalid duration \"5x\": unknown unit \"x\"");
        assert_eq!(err("HEALTHCHECK --interval=10us CMD true"), "--interval cannot be less than 1ms");
        assert_eq!(err("HEALTHCHECK --interval=-1s CMD true"), "--interval cannot be less than 1ms");
        assert_eq!(err("HEALTHCHECK --retries=-1 CMD true"), "--retries cannot be negative (-1)");
        assert_eq!(err("HEALTHCHECK --retries=three CMD true"), "invalid value for --retries: \"three\"");
        assert_eq!(err("HEALTHCHECK --intervall=5s CMD true"), "unknown flag: --intervall (did you mean --interval?)");
    }

    #[test]
    fn durations_as_go_parses_them() {
        let d = |s: &str| parse_duration(s).map(|(_, d)| d);
        assert_eq!(d("1h2m3.5s").unwrap(), Duration::from_millis(3_723_500));
        assert_eq!(d("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(d(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(d("300us").unwrap(), Duration::from_micros(300));
        assert_eq!(d("300µs").unwrap(), Duration::from_micros(300));
        assert_eq!(d("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("-2s").unwrap(), (true, Duration::from_secs(2)));
        for bad in ["", "s", "1.s.", "1d", "99999999999999999999h"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn onbuild_wraps_any_other_instruction() {
        let Kind::Onbuild(inner) = one("ONBUILD COPY --chown=app . /app/src").unwrap() else { panic!() };
        assert_eq!(inner.text, "COPY --chown=app . /app/src");
        assert!(matches!(inner.kind, Kind::Copy(ref c) if c.chown.as_deref() == Some("app")));

        let Kind::Onbuild(inner) = one("ONBUILD RUN <<EOF\nmake\nEOF\n").unwrap() else { panic!() };
        assert!(matches!(inner.kind, Kind::Run { ref heredocs, .. } if heredocs[0].content == "make\n"));

        assert_eq!(err("ONBUILD ONBUILD RUN x"), "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        assert_eq!(err("ONBUILD from alpine"), "FROM isn't allowed as an ONBUILD trigger");
        assert_eq!(err("ONBUILD MAINTAINER me"), "MAINTAINER isn't allowed as an ONBUILD trigger");
        assert_eq!(err("ONBUILD"), "ONBUILD requires at least one argument");
        assert_eq!(err("ONBUILD RUNN x"), "unknown instruction: RUNN (did you mean RUN?)");
    }

    #[test]
    fn from_image_platform_and_stage_name() {
        let (f, name) = from("FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS Build-Env").unwrap();
        assert_eq!(
            (f.image.as_str(), f.platform.as_deref(), f.line),
            ("golang:1.22-alpine", Some("$BUILDPLATFORM"), 1)
        );
        assert_eq!(name.as_deref(), Some("build-env"), "stage names are lower-cased");
        assert_eq!(from("from ${BASE} as base").unwrap().0.image, "${BASE}", "not expanded here");
        assert_eq!(from("FROM scratch").unwrap().1, None);
        let three = "FROM requires either one or three arguments: FROM [--platform=<platform>] <image> [AS <name>]";
        assert_eq!(from("FROM").unwrap_err(), three);
        assert_eq!(from("FROM a b").unwrap_err(), three);
        assert_eq!(from("FROM a AS").unwrap_err(), three);
        assert_eq!(from("FROM a FOR b").unwrap_err(), three);
        assert_eq!(
            from("FROM alpine AS 1st").unwrap_err(),
            "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
        );
        assert!(from("FROM alpine AS my/stage").is_err());
        assert_eq!(
            from("FROM --plaform=linux/arm64 alpine").unwrap_err(),
            "unknown flag: --plaform (did you mean --platform?)"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("COPPY", &["COPY", "CMD"]), Some("COPY"));
        assert_eq!(suggest("lable", &["LABEL", "ARG"]), Some("LABEL"));
        assert_eq!(suggest("XYZ", &["RUN", "ARG"]), None);
        assert_eq!(suggest("install", &["ONBUILD", "SHELL"]), None);
    }
}
