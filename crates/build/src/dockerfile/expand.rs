//! Variable substitution, as the builder (not the shell) does it.
//!
//! The rules are those of BuildKit's shell lexer, because Dockerfiles in the wild are written against
//! it: `$VAR`, `${VAR}`, the `${VAR:-word}` family, the `${VAR#pattern}` family, single and double
//! quotes (removed, as a shell removes them), and the file's escape character. Unknown variables
//! expand to "". Heredoc bodies follow the POSIX here-document rules instead (quotes are ordinary
//! characters, a backslash only escapes `$`, `` ` ``, `\` and the newline), which is what the
//! Dockerfile reference promises for `COPY <<EOF`.

use super::{Arg, Copy, Heredoc, Kind, RunMount};

/// How a value of the build state is looked up: `Some` for a variable that is set (even to "").
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands one word: variables substituted, quotes and escapes removed, whitespace kept.
pub fn expand(word: &str, vars: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<String, String> {
    let mut out = Output::default();
    Lexer::new(word, vars, escape, Mode::Word).run(None, false, &mut out).map_err(|e| failed(word, e))?;
    Ok(out.text)
}

/// Expands then splits into words at unquoted whitespace, as EXPOSE needs: `EXPOSE $PORTS` with
/// `PORTS="80 443"` exposes two ports, `"a b"` stays one word.
pub fn expand_words(word: &str, vars: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<Vec<String>, String> {
    let mut out = Output::default();
    Lexer::new(word, vars, escape, Mode::Word).run(None, false, &mut out).map_err(|e| failed(word, e))?;
    Ok(out.into_words())
}

/// Expands the body of an unquoted here-document (`COPY <<EOF`): variables are substituted, quotes
/// are kept, and a backslash escapes only `$`, `` ` ``, `\` and a newline, whatever the file's escape
/// character is (these are the shell's rules for here-documents, not the Dockerfile's).
pub fn expand_heredoc(body: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = Output::default();
    Lexer::new(body, vars, '\\', Mode::Heredoc).run(None, false, &mut out).map_err(|e| failed(body, e))?;
    Ok(out.text)
}

fn failed(word: &str, e: String) -> String {
    format!("failed to process {word:?}: {e}")
}

/// Returns the instruction with every field the builder expands replaced by its expansion with
/// `vars` (the stage's ARG and ENV values at this instruction).
///
/// What is expanded, as in BuildKit: ENV and LABEL keys and values; ARG defaults (a `--build-arg`
/// value replaces the default and is used as given, so the caller should only expand when it uses
/// the default); EXPOSE (split into words afterwards, and each port checked); WORKDIR, USER,
/// STOPSIGNAL; each VOLUME; COPY/ADD sources, destination, `--chown`, `--chmod`, `--checksum`, and
/// heredoc bodies whose delimiter was not quoted; the `target`, `source`, `id` and `env` of RUN
/// mounts. Not expanded: RUN/CMD/ENTRYPOINT commands and RUN heredocs (the shell does it), SHELL,
/// HEALTHCHECK, MAINTAINER, `COPY --from` (the parser rejects variables there), `--exclude`
/// patterns, and ONBUILD triggers (they are expanded when they run, in the image built on this one).
pub fn expand_kind(kind: &Kind, vars: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<Kind, String> {
    let word = |w: &str| expand(w, vars, escape);
    let pairs = |pairs: &[(String, String)]| -> Result<Vec<(String, String)>, String> {
        pairs.iter().map(|(k, v)| Ok((word(k)?, word(v)?))).collect()
    };
    Ok(match kind {
        Kind::Env(p) => Kind::Env(pairs(p)?),
        Kind::Label(p) => Kind::Label(pairs(p)?),
        Kind::Arg(args) => Kind::Arg(
            args.iter()
                .map(|a| Ok(Arg { name: a.name.clone(), default: a.default.as_deref().map(word).transpose()? }))
                .collect::<Result<_, String>>()?,
        ),
        Kind::Expose(ports) => {
            let mut out = Vec::with_capacity(ports.len());
            for p in ports {
                for port in expand_words(p, vars, escape)? {
                    check_port(&port)?;
                    out.push(port);
                }
            }
            Kind::Expose(out)
        }
        Kind::Workdir(w) => Kind::Workdir(word(w)?),
        Kind::User(u) => Kind::User(word(u)?),
        Kind::StopSignal(s) => Kind::StopSignal(word(s)?),
        Kind::Volume(vols) => Kind::Volume(
            vols.iter()
                .map(|v| {
                    let v = word(v)?;
                    if v.trim().is_empty() {
                        return Err("VOLUME specified can not be an empty string".to_string());
                    }
                    Ok(v)
                })
                .collect::<Result<_, String>>()?,
        ),
        Kind::Copy(c) => Kind::Copy(expand_copy(c, vars, escape)?),
        Kind::Add(c) => Kind::Add(expand_copy(c, vars, escape)?),
        Kind::Run { cmd, mounts, network, heredocs } => Kind::Run {
            cmd: cmd.clone(),
            mounts: mounts.iter().map(|m| expand_mount(m, &word)).collect::<Result<_, String>>()?,
            network: network.clone(),
            heredocs: heredocs.clone(),
        },
        other => other.clone(),
    })
}

fn expand_copy(c: &Copy, vars: Vars, escape: char) -> Result<Copy, String> {
    let word = |w: &str| expand(w, vars, escape);
    let opt = |w: &Option<String>| w.as_deref().map(word).transpose();
    Ok(Copy {
        sources: c.sources.iter().map(|s| word(s)).collect::<Result<_, String>>()?,
        dest: word(&c.dest)?,
        from: c.from.clone(),
        chown: opt(&c.chown)?,
        chmod: opt(&c.chmod)?,
        link: c.link,
        heredocs: c
            .heredocs
            .iter()
            .map(|h| {
                let content = if h.expand { expand_heredoc(&h.content, vars)? } else { h.content.clone() };
                Ok(Heredoc { content, ..h.clone() })
            })
            .collect::<Result<_, String>>()?,
        keep_git_dir: c.keep_git_dir,
        exclude: c.exclude.clone(),
        checksum: opt(&c.checksum)?,
        unpack: c.unpack,
    })
}

fn expand_mount(m: &RunMount, word: &dyn Fn(&str) -> Result<String, String>) -> Result<RunMount, String> {
    let opt = |w: &Option<String>| w.as_deref().map(word).transpose();
    Ok(RunMount { target: word(&m.target)?, source: opt(&m.source)?, id: opt(&m.id)?, env: opt(&m.env)?, ..m.clone() })
}

/// `80`, `8000-8010`, `53/udp`: what docker accepts in EXPOSE once variables are gone.
fn check_port(port: &str) -> Result<(), String> {
    let (range, proto) = match port.split_once('/') {
        Some((r, p)) => (r, Some(p)),
        None => (port, None),
    };
    let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok();
    let range_ok = match range.split_once('-') {
        Some((a, b)) => number(a) && number(b),
        None => number(range),
    };
    let proto_ok = proto.is_none_or(|p| ["tcp", "udp", "sctp"].iter().any(|k| p.eq_ignore_ascii_case(k)));
    if range_ok && proto_ok {
        Ok(())
    } else {
        Err(format!("invalid port in EXPOSE: {port:?} (expected PORT[-PORT][/tcp|udp|sctp])"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A Dockerfile word: quotes are processed, the escape character is the file's.
    Word,
    /// A here-document body: quotes are ordinary characters.
    Heredoc,
}

/// The expansion so far, both as one string and as words for [`expand_words`]. Quoted and escaped
/// text is never split; text from an unquoted variable is.
#[derive(Default)]
struct Output {
    text: String,
    words: Vec<String>,
    word: String,
}

impl Output {
    fn literal(&mut self, s: &str) {
        self.text.push_str(s);
        self.word.push_str(s);
    }

    fn literal_char(&mut self, c: char) {
        self.text.push(c);
        self.word.push(c);
    }

    fn splittable(&mut self, s: &str) {
        for c in s.chars() {
            self.splittable_char(c);
        }
    }

    fn splittable_char(&mut self, c: char) {
        self.text.push(c);
        if c.is_whitespace() {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
            }
        } else {
            self.word.push(c);
        }
    }

    fn into_words(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: Vars<'a>,
    escape: char,
    mode: Mode,
    /// How many `${...}` we are inside: bounded, so a hostile Dockerfile cannot exhaust the stack.
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl<'a> Lexer<'a> {
    fn new(text: &str, vars: Vars<'a>, escape: char, mode: Mode) -> Lexer<'a> {
        Lexer { chars: text.chars().collect(), pos: 0, vars, escape, mode, depth: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Processes up to `stop` (consumed) or the end. `raw_escapes` keeps escape characters in the
    /// output: glob patterns need `\*` to stay distinct from `*`.
    fn run(&mut self, stop: Option<char>, raw_escapes: bool, out: &mut Output) -> Result<(), String> {
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(());
            }
            match c {
                '$' => {
                    let v = self.dollar()?;
                    out.splittable(&v);
                }
                '\'' if self.mode == Mode::Word => {
                    let v = self.single_quoted()?;
                    out.literal(&v);
                }
                '"' if self.mode == Mode::Word => {
                    let v = self.double_quoted(raw_escapes)?;
                    out.literal(&v);
                }
                '\\' if self.mode == Mode::Heredoc => {
                    self.pos += 1;
                    match self.peek() {
                        Some(n @ ('$' | '`' | '\\')) => {
                            self.pos += 1;
                            if raw_escapes {
                                out.literal_char('\\');
                            }
                            out.literal_char(n);
                        }
                        // A backslash-newline joins the lines, as in a shell here-document.
                        Some('\n') => self.pos += 1,
                        _ => out.literal_char('\\'),
                    }
                }
                _ if self.mode == Mode::Word && c == self.escape => {
                    self.pos += 1;
                    if raw_escapes {
                        out.literal_char(c);
                    }
                    // An escape character at the very end is dropped.
                    match self.bump() {
                        Some(n) => out.literal_char(n),
                        None => break,
                    }
                }
                _ => {
                    self.pos += 1;
                    out.splittable_char(c);
                }
            }
        }
        match stop {
            Some(s) => Err(format!("unexpected end of statement while looking for matching {s}")),
            None => Ok(()),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err("unexpected end of statement while looking for matching single-quote".to_string()),
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    /// Inside double quotes the escape character only escapes `"`, `$` and itself; before anything
    /// else it is an ordinary character (`"C:\temp"` keeps its backslash).
    fn double_quoted(&mut self, raw_escapes: bool) -> Result<String, String> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".to_string()),
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('$') => s.push_str(&self.dollar()?),
                Some(c) if c == self.escape => {
                    self.pos += 1;
                    if raw_escapes {
                        s.push(c);
                    }
                    match self.peek() {
                        None => {}
                        Some(n) if n == '"' || n == '$' || n == self.escape => {
                            self.pos += 1;
                            s.push(n);
                        }
                        Some(_) => s.push(c),
                    }
                }
                Some(c) => {
                    self.pos += 1;
                    s.push(c);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.vars)(name)
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            // A `$` before anything that cannot start a name (`$(`, `$.`, a trailing `$`) is literal.
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(missing_brace()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(op) = self.bump() else { return Err(missing_brace()) };
        match op {
            '}' => Ok(self.lookup(&name).unwrap_or_default()),
            ':' => match self.bump() {
                Some(op @ ('-' | '+' | '?')) => self.modifier(&name, op, true),
                Some(other) => Err(format!("unsupported modifier (:{other}) in substitution")),
                None => Err(missing_brace()),
            },
            '-' | '+' | '?' | '#' | '%' => self.modifier(&name, op, false),
            '/' => self.replace(&name),
            other => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }

    /// Reads the word after the operator up to the closing brace.
    fn operand(&mut self, stop: char, raw_escapes: bool, missing: &str) -> Result<String, String> {
        if self.depth == MAX_DEPTH {
            return Err(format!("substitutions nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let mut out = Output::default();
        let result = self.run(Some(stop), raw_escapes, &mut out);
        self.depth -= 1;
        match result {
            Ok(()) => Ok(out.text),
            Err(_) if self.peek().is_none() => Err(missing.to_string()),
            Err(e) => Err(e),
        }
    }

    fn modifier(&mut self, name: &str, op: char, colon: bool) -> Result<String, String> {
        let pattern_op = op == '#' || op == '%';
        let word = self.operand('}', pattern_op, &missing_brace())?;
        let value = self.lookup(name);
        // With a colon, an empty value counts as unset.
        let set = value.as_deref().is_some_and(|v| !(colon && v.is_empty()));
        match op {
            '-' => Ok(if set { value.unwrap_or_default() } else { word }),
            '+' => Ok(if set { word } else { String::new() }),
            '?' => {
                if set {
                    return Ok(value.unwrap_or_default());
                }
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                Err(format!("{name}: {message}"))
            }
            _ => {
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(p) => (true, p),
                    None => (false, word.as_str()),
                };
                let glob = Glob::new(pattern)?;
                let value: Vec<char> = value.unwrap_or_default().chars().collect();
                Ok(if op == '#' { glob.trim_prefix(&value, longest) } else { glob.trim_suffix(&value, longest) })
            }
        }
    }

    fn replace(&mut self, name: &str) -> Result<String, String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.operand('/', true, "syntax error: missing '/' in ${}")?;
        // BuildKit keeps escape characters in the replacement (`${P//\//\/}` gives `\/tmp`).
        let replacement = self.operand('}', true, &missing_brace())?;
        let glob = Glob::new(&pattern)?;
        let value: Vec<char> = self.lookup(name).unwrap_or_default().chars().collect();
        Ok(glob.replace(&value, &replacement, all))
    }

    /// A variable name: letters, digits and `_`; or all the digits of a positional parameter; or
    /// one special parameter character (`$@`, `$?`...). Those last two are never set in a build,
    /// but must be consumed so that `$1x` is `x`, as in a shell.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                name.push(c);
                return name;
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

fn missing_brace() -> String {
    "syntax error: missing '}'".to_string()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    Any,
    Star,
    Char(char),
}

/// A shell pattern of `${VAR#pattern}`: `?` is any character, `*` any run of them, `\*`, `\?` and
/// `\\` are literal; bracket expressions are not supported (nor are they in BuildKit).
struct Glob(Vec<Tok>);

impl Glob {
    fn new(pattern: &str) -> Result<Glob, String> {
        let mut toks = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            toks.push(match c {
                '*' => Tok::Star,
                '?' => Tok::Any,
                // `}` and `/` had to be escaped to get into the pattern; the backslash is not part of it.
                '\\' => match chars.next() {
                    Some(n @ ('*' | '?' | '\\' | '}' | '/')) => Tok::Char(n),
                    Some(n) => {
                        return Err(format!("invalid pattern ({pattern}) in substitution: invalid escape '\\{n}'"))
                    }
                    None => return Err(format!("invalid pattern ({pattern}) in substitution: trailing '\\'")),
                },
                c => Tok::Char(c),
            });
        }
        Ok(Glob(toks))
    }

    /// The lengths `k` for which the pattern matches `s[..k]`, ascending: one pass over `s` keeping
    /// the set of pattern positions still alive, so O(len(s) × len(pattern)) whatever the stars.
    fn prefix_lengths(toks: &[Tok], s: &[char]) -> Vec<usize> {
        // A star may match nothing: being at a star means also being just after it.
        let close = |alive: &mut Vec<bool>| {
            for j in 0..toks.len() {
                if alive[j] && toks[j] == Tok::Star {
                    alive[j + 1] = true;
                }
            }
        };
        let mut alive = vec![false; toks.len() + 1];
        alive[0] = true;
        close(&mut alive);
        let mut lengths = Vec::new();
        if alive[toks.len()] {
            lengths.push(0);
        }
        for (i, c) in s.iter().enumerate() {
            let mut next = vec![false; toks.len() + 1];
            for (j, t) in toks.iter().enumerate().filter(|(j, _)| alive[*j]) {
                match t {
                    Tok::Star => next[j] = true,
                    Tok::Any => next[j + 1] = true,
                    Tok::Char(x) if x == c => next[j + 1] = true,
                    Tok::Char(_) => {}
                }
            }
            close(&mut next);
            if !next.contains(&true) {
                break;
            }
            if next[toks.len()] {
                lengths.push(i + 1);
            }
            alive = next;
        }
        lengths
    }

    fn trim_prefix(&self, value: &[char], longest: bool) -> String {
        let lengths = Self::prefix_lengths(&self.0, value);
        let cut = if longest { lengths.last() } else { lengths.first() };
        value[cut.copied().unwrap_or(0)..].iter().collect()
    }

    /// A suffix match is a prefix match of the reversed pattern on the reversed value.
    fn trim_suffix(&self, value: &[char], longest: bool) -> String {
        let toks: Vec<Tok> = self.0.iter().rev().copied().collect();
        let reversed: Vec<char> = value.iter().rev().copied().collect();
        let lengths = Self::prefix_lengths(&toks, &reversed);
        let cut = if longest { lengths.last() } else { lengths.first() };
        value[..value.len() - cut.copied().unwrap_or(0)].iter().collect()
    }

    /// Replaces the leftmost longest match (every non-overlapping one with `all`). Empty matches
    /// are not replaced: `${X//*/y}` on an empty X stays empty.
    fn replace(&self, value: &[char], replacement: &str, all: bool) -> String {
        if self.0.is_empty() {
            return value.iter().collect();
        }
        let mut out = String::with_capacity(value.len());
        let mut start = 0;
        let mut replaced = false;
        while start < value.len() {
            let longest = if replaced && !all {
                None
            } else {
                Self::prefix_lengths(&self.0, &value[start..]).last().copied().filter(|n| *n > 0)
            };
            match longest {
                Some(n) => {
                    out.push_str(replacement);
                    start += n;
                    replaced = true;
                }
                None => {
                    out.push(value[start]);
                    start += 1;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn with<'a>(vars: &'a HashMap<String, String>) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.get(k).cloned()
    }

    /// The environment BuildKit's own lexer table (shell/envVarTest) is written against.
    fn buildkit_env() -> HashMap<String, String> {
        env(&[("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")])
    }

    fn x(word: &str) -> Result<String, String> {
        let vars = buildkit_env();
        let v = with(&vars);
        expand(word, &v, '\\')
    }

    #[test]
    fn plain_and_braced_variables_unknown_ones_are_empty() {
        assert_eq!(x("he$PWD").unwrap(), "he/home");
        assert_eq!(x("he${PWD}x").unwrap(), "he/homex");
        assert_eq!(x("he${hi}xx").unwrap(), "hexx");
        assert_eq!(x("he$pwd.").unwrap(), "he.", "names are case-sensitive");
        assert_eq!(x("$KOREAN!").unwrap(), "한국어!");
        assert_eq!(x("안녕$PWD").unwrap(), "안녕/home");
    }

    #[test]
    fn a_dollar_that_starts_no_name_is_literal() {
        assert_eq!(x("$.").unwrap(), "$.");
        assert_eq!(x("cost: 5$").unwrap(), "cost: 5$");
        assert_eq!(x("$(date)").unwrap(), "$(date)");
    }

    #[test]
    fn positional_and_special_parameters_are_consumed_and_empty() {
        assert_eq!(x("he$1x").unwrap(), "hex");
        assert_eq!(x("$999aaa").unwrap(), "aaa");
        assert_eq!(x("$@@@").unwrap(), "@@");
        assert_eq!(x("${1:-bbb}").unwrap(), "bbb");
        assert_eq!(x("${?:-bbb}aaa").unwrap(), "bbbaaa");
    }

    #[test]
    fn default_and_alternative_values_with_and_without_colon() {
        assert_eq!(x("he${XXX:-000}xx").unwrap(), "he000xx");
        assert_eq!(x("he${PWD:-000}xx").unwrap(), "he/homexx");
        assert_eq!(x("${NULL:-empty}").unwrap(), "empty", ":- treats empty as unset");
        assert_eq!(x("${NULL-empty}").unwrap(), "", "- only looks at unset");
        assert_eq!(x("${XXX-unset}").unwrap(), "unset");
        assert_eq!(x("he${PWD:+000}xx").unwrap(), "he000xx");
        assert_eq!(x("he${XXX:+000}xx").unwrap(), "hexx");
        assert_eq!(x("${NULL:+alt}").unwrap(), "");
        assert_eq!(x("${NULL+alt}").unwrap(), "alt");
    }

    #[test]
    fn words_nest() {
        assert_eq!(x("he${XXX:-$PWD}xx").unwrap(), "he/homexx");
        assert_eq!(x("he${XXX:-${YYY:-yyy}}xx").unwrap(), "heyyyxx");
        assert_eq!(x("he${PWD:+${SHELL}}xx").unwrap(), "hebashxx");
        assert_eq!(x("he${PWD:+${PWD}:}xx").unwrap(), "he/home:xx");
        assert_eq!(x("${aaa:-bbb}}").unwrap(), "bbb}");
        assert_eq!(x("${aaa:-bbb {foo}").unwrap(), "bbb {foo");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        assert_eq!(x("${PWD:?}").unwrap(), "/home");
        assert_eq!(x("${NULL?}").unwrap(), "");
        assert!(x("${XXX?}").unwrap_err().ends_with("XXX: is not allowed to be unset"));
        assert!(x("${NULL:?}").unwrap_err().ends_with("NULL: is not allowed to be empty"));
        let err = x("${VERSION:?set VERSION with --build-arg}").unwrap_err();
        assert_eq!(
            err,
            r#"failed to process "${VERSION:?set VERSION with --build-arg}": VERSION: set VERSION with --build-arg"#
        );
    }

    #[test]
    fn malformed_substitutions_are_errors() {
        for bad in
            ["${}", "he${}xx", "${PWD", "he${.}", "${XXX:YYY}", "${PWD:=000}", "${{aaa}", "${:}", "${aaa:-bbb ${foo}"]
        {
            assert!(x(bad).is_err(), "{bad} should fail");
        }
        assert!(x("${PWD").unwrap_err().ends_with("syntax error: missing '}'"));
        assert!(x("${}").unwrap_err().ends_with("syntax error: bad substitution"));
    }

    #[test]
    fn escapes_make_dollars_and_quotes_literal() {
        assert_eq!(x(r"he\$PWD").unwrap(), "he$PWD");
        assert_eq!(x(r"\${}aaa").unwrap(), "${}aaa");
        assert_eq!(x(r"he\\$PWD").unwrap(), r"he\/home");
        assert_eq!(x(r"he\'llo").unwrap(), "he'llo");
        assert_eq!(x(r"abc\tdef").unwrap(), "abctdef", "outside quotes the escape char just quotes the next one");
        assert_eq!(x(r"hello\").unwrap(), "hello", "a trailing escape is dropped");
        assert_eq!(x(r"he${XXX:-\$PWD:}xx").unwrap(), "he$PWD:xx");
        assert_eq!(x(r"he${XXX:-\${PWD}z}xx").unwrap(), "he${PWDz}xx");
    }

    #[test]
    fn quotes_are_removed_single_quotes_stop_expansion() {
        assert_eq!(x("he'll'o").unwrap(), "hello");
        assert_eq!(x("'he${XX}'").unwrap(), "he${XX}");
        assert_eq!(x("'$PWD'").unwrap(), "$PWD");
        assert_eq!(x(r"'abc\tdef'").unwrap(), r"abc\tdef");
        assert_eq!(x(r"'hello\'").unwrap(), r"hello\");
        assert_eq!(x("\"he'$PWD'\"").unwrap(), "he'/home'");
        assert_eq!(x("'\"hello\"'").unwrap(), "\"hello\"");
        assert_eq!(x("\"hello world\"").unwrap(), "hello world");
        assert!(x("he'llo").unwrap_err().contains("single-quote"));
        assert!(x("\"hello").unwrap_err().contains("double-quote"));
        assert!(x(r#""hello\""#).is_err(), "an escaped quote does not close");
    }

    #[test]
    fn inside_double_quotes_only_quote_dollar_and_escape_are_escapable() {
        assert_eq!(x(r#""abc\tdef""#).unwrap(), r"abc\tdef");
        assert_eq!(x(r#""abc\\tdef""#).unwrap(), r"abc\tdef");
        assert_eq!(x(r#""he\$PWD""#).unwrap(), "he$PWD");
        assert_eq!(x(r#""he\\$PWD""#).unwrap(), r"he\/home");
        assert_eq!(x(r#""say \"hi\"""#).unwrap(), r#"say "hi""#);
    }

    #[test]
    fn the_backtick_escape_of_windows_dockerfiles() {
        let vars = env(&[("APP", "c:\\app")]);
        let v = with(&vars);
        assert_eq!(expand(r"c:\data\$APP", &v, '`').unwrap(), r"c:\data\c:\app", "backslash is ordinary");
        assert_eq!(expand("`$APP", &v, '`').unwrap(), "$APP");
        assert_eq!(expand("\"`\"x`\"\"", &v, '`').unwrap(), "\"x\"");
    }

    #[test]
    fn pattern_removal_shortest_and_longest() {
        let vars = env(&[("str", "foobarbaz"), ("file", "archive.tar.gz"), ("ver", "v1.2.3")]);
        let v = with(&vars);
        let e = |w: &str| expand(w, &v, '\\').unwrap();
        assert_eq!(e("${str#f*b}"), "arbaz");
        assert_eq!(e("${str##f*b}"), "az");
        assert_eq!(e("${str%b*}"), "foobar");
        assert_eq!(e("${str%%b*}"), "foo");
        assert_eq!(e("${file%.*}"), "archive.tar");
        assert_eq!(e("${file%%.*}"), "archive");
        assert_eq!(e("${ver#v}"), "1.2.3");
        assert_eq!(e("${ver#x}"), "v1.2.3", "no match leaves the value");
        assert_eq!(e("${str#???}"), "barbaz");
        assert_eq!(e("${unset#foo}"), "");
    }

    #[test]
    fn pattern_replacement_first_and_all() {
        let vars = env(&[("str", "foobarbaz"), ("path", "/usr/bin:/bin"), ("glob", "a*b*c")]);
        let v = with(&vars);
        let e = |w: &str| expand(w, &v, '\\').unwrap();
        assert_eq!(e("${str/ba/fo}"), "fooforbaz");
        assert_eq!(e("${str//ba/fo}"), "fooforfoz");
        assert_eq!(e("${path//:/ }"), "/usr/bin /bin");
        assert_eq!(e("${str/o*a/_}"), "f_z", "stars are greedy");
        assert_eq!(e(r"${glob//\*/-}"), "a-b-c", "escaped star is literal");
        assert_eq!(e(r"${path//\//|}"), "|usr|bin:|bin", "escaped slash is literal");
        assert_eq!(e(r"${path//\//\/}"), r"\/usr\/bin:\/bin", "the replacement keeps its escapes, as in BuildKit");
        assert_eq!(e("${str/zzz/y}"), "foobarbaz");
        assert!(expand("${str/x}", &v, '\\').unwrap_err().contains("missing '/'"));
        assert!(expand(r"${str#\q}", &v, '\\').unwrap_err().contains("invalid escape"));
        assert!(expand("${str:#x}", &v, '\\').unwrap_err().contains("unsupported modifier (:#)"));
    }

    #[test]
    fn patterns_cost_linear_time_and_nesting_is_bounded() {
        let long = "ab".repeat(5_000);
        let vars = env(&[("LONG", &long)]);
        let v = with(&vars);
        assert_eq!(expand("${LONG//*b/x}", &v, '\\').unwrap(), "x");
        assert_eq!(expand("${LONG//a/}", &v, '\\').unwrap().len(), 5_000);
        assert_eq!(expand("${LONG%%a*}", &v, '\\').unwrap(), "");

        let nested = "${A:-".repeat(10_000) + &"}".repeat(10_000);
        assert!(expand(&nested, &v, '\\').unwrap_err().contains("nested more than 64 deep"));
        let fine = "${A:-".repeat(10) + "ok" + &"}".repeat(10);
        assert_eq!(expand(&fine, &v, '\\').unwrap(), "ok");
    }

    #[test]
    fn word_splitting_happens_after_expansion_except_in_quotes() {
        let vars =
            env(&[("space", "abc  def"), ("leading", "  ab c"), ("trailing", "ab c   "), ("ports", "80 443/tcp")]);
        let v = with(&vars);
        let w = |s: &str| expand_words(s, &v, '\\').unwrap();
        assert_eq!(w("hello${space}bye"), ["helloabc", "defbye"]);
        assert_eq!(w("hello\"${space}\"bye"), ["helloabc  defbye"]);
        assert_eq!(w("hello${leading}def"), ["hello", "ab", "cdef"]);
        assert_eq!(w("hello${trailing}d"), ["helloab", "c", "d"]);
        assert_eq!(w("hello\" there  \""), ["hello there  "]);
        assert_eq!(w(r"hello\ there"), ["hello there"]);
        assert_eq!(w(r#"hello\" there"#), ["hello\"", "there"]);
        assert_eq!(w(r"hello'\there'"), [r"hello\there"]);
        assert_eq!(w("$ports"), ["80", "443/tcp"]);
        assert!(w("\"\"").is_empty());
        assert!(expand_words("hello\" there", &v, '\\').is_err());
    }

    #[test]
    fn heredoc_bodies_keep_quotes_and_most_backslashes() {
        let vars = env(&[("FOO", "bar"), ("NAME", "web")]);
        let v = with(&vars);
        let body = "echo \"hello ${FOO}\" 'and $FOO'\nprintf '%s\\n' \\$HOME\nserver_name ${NAME:-x}.local;\nlocation ~ \\.php$ {\n";
        assert_eq!(
            expand_heredoc(body, &v).unwrap(),
            "echo \"hello bar\" 'and bar'\nprintf '%s\\n' $HOME\nserver_name web.local;\nlocation ~ \\.php$ {\n"
        );
        assert_eq!(expand_heredoc("a \\\nb\n", &v).unwrap(), "a b\n", "backslash-newline joins lines");
        assert_eq!(expand_heredoc("\\\\ \\` $(uname)\n", &v).unwrap(), "\\ ` $(uname)\n");
    }

    fn run(mounts: Vec<RunMount>) -> Kind {
        Kind::Run { cmd: super::super::Command::Shell("make".into()), mounts, network: None, heredocs: vec![] }
    }

    #[test]
    fn expand_kind_expands_what_the_reference_lists_and_nothing_else() {
        let vars = env(&[("V", "1.0"), ("DIR", "/srv"), ("U", "app"), ("P", "8080 9090"), ("CACHE", "/root/.cache")]);
        let v = with(&vars);
        let k = |kind: Kind| expand_kind(&kind, &v, '\\').unwrap();

        assert_eq!(
            k(Kind::Env(vec![("VERSION".into(), "$V".into()), ("MSG".into(), "\"hello world\"".into())])),
            Kind::Env(vec![("VERSION".into(), "1.0".into()), ("MSG".into(), "hello world".into())])
        );
        assert_eq!(
            k(Kind::Label(vec![("\"org.opencontainers.image.version\"".into(), "${V}".into())])),
            Kind::Label(vec![("org.opencontainers.image.version".into(), "1.0".into())])
        );
        assert_eq!(k(Kind::Workdir("$DIR/app".into())), Kind::Workdir("/srv/app".into()));
        assert_eq!(k(Kind::User("${U}:${U}".into())), Kind::User("app:app".into()));
        assert_eq!(k(Kind::StopSignal("SIG${S:-TERM}".into())), Kind::StopSignal("SIGTERM".into()));
        assert_eq!(
            k(Kind::Expose(vec!["$P".into(), "53/udp".into()])),
            Kind::Expose(vec!["8080".into(), "9090".into(), "53/udp".into()])
        );
        assert_eq!(k(Kind::Volume(vec!["$DIR/data".into()])), Kind::Volume(vec!["/srv/data".into()]));
        assert_eq!(
            k(Kind::Arg(vec![Arg { name: "FULL".into(), default: Some("\"v$V\"".into()) }])),
            Kind::Arg(vec![Arg { name: "FULL".into(), default: Some("v1.0".into()) }])
        );

        // The shell expands these, later.
        for kind in [
            Kind::Cmd(super::super::Command::Shell("echo $V".into())),
            Kind::Entrypoint(super::super::Command::Exec(vec!["$V".into()])),
            Kind::Shell(vec!["/bin/$V".into()]),
            Kind::Maintainer("$U".into()),
        ] {
            assert_eq!(k(kind.clone()), kind);
        }

        let mount = RunMount {
            target: "$CACHE".into(),
            id: Some("go-$V".into()),
            ..RunMount::new(super::super::MountKind::Cache)
        };
        let Kind::Run { mounts, cmd, .. } = k(run(vec![mount])) else { panic!() };
        assert_eq!((mounts[0].target.as_str(), mounts[0].id.as_deref()), ("/root/.cache", Some("go-1.0")));
        assert_eq!(cmd, super::super::Command::Shell("make".into()));
    }

    #[test]
    fn expand_kind_on_copy_expands_paths_owner_and_unquoted_heredocs() {
        let vars = env(&[("V", "1.0"), ("U", "app")]);
        let v = with(&vars);
        let heredoc = |name: &str, expand: bool| Heredoc {
            name: name.into(),
            content: "version=$V\n".into(),
            expand,
            strip_tabs: false,
            target_fd: None,
        };
        let copy = Copy {
            sources: vec!["app-$V.tar".into()],
            dest: "/opt/$U/".into(),
            chown: Some("$U:$U".into()),
            chmod: Some("0755".into()),
            heredocs: vec![heredoc("a.conf", true), heredoc("b.conf", false)],
            exclude: vec!["*.$V".into()],
            ..Copy::default()
        };
        let Kind::Copy(c) = expand_kind(&Kind::Copy(copy), &v, '\\').unwrap() else { panic!() };
        assert_eq!(c.sources, ["app-1.0.tar"]);
        assert_eq!(c.dest, "/opt/app/");
        assert_eq!(c.chown.as_deref(), Some("app:app"));
        assert_eq!(c.heredocs[0].content, "version=1.0\n");
        assert_eq!(c.heredocs[1].content, "version=$V\n", "quoted delimiter: no expansion");
        assert_eq!(c.exclude, ["*.$V"], "exclude patterns are not expanded");
    }

    #[test]
    fn expand_kind_rejects_bad_ports_and_empty_volumes() {
        let vars = env(&[("EMPTY", "")]);
        let v = with(&vars);
        assert!(expand_kind(&Kind::Expose(vec!["http".into()]), &v, '\\').unwrap_err().contains("invalid port"));
        assert!(expand_kind(&Kind::Expose(vec!["80/xyz".into()]), &v, '\\').is_err());
        assert!(expand_kind(&Kind::Expose(vec!["65536".into()]), &v, '\\').is_err());
        assert!(expand_kind(&Kind::Expose(vec!["8000-8010/UDP".into()]), &v, '\\').is_ok());
        assert!(expand_kind(&Kind::Volume(vec!["$EMPTY".into()]), &v, '\\').is_err());
    }
}
