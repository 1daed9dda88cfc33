//! From text to logical lines: parser directives, comments, blank lines, line continuations and
//! here-document bodies; and the ways an instruction's arguments are split into words.
//!
//! The rules are BuildKit's (frontend/dockerfile/parser), quirks included where Dockerfiles depend
//! on them: continuation lines keep their leading whitespace, comment lines inside a continuation
//! are dropped, and so are blank ones (docker warns about those; we add a note).

use super::ParseError;

/// The physical lines of a Dockerfile, and a cursor over them.
pub(crate) struct Source<'a> {
    lines: Vec<&'a str>,
    next: usize,
    pub escape: char,
}

/// One instruction's text with its continuations joined (escape characters and line breaks
/// removed), and the line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Logical {
    pub text: String,
    pub line: usize,
    /// A blank line inside the continuation: accepted, but docker warns it will become an error.
    pub empty_continuation: bool,
}

/// What the directives at the top of the file say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Directives {
    pub escape: char,
    pub notes: Vec<String>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Source<'a> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
        // The piece after a final newline is not a line.
        if text.is_empty() || text.ends_with('\n') {
            lines.pop();
        }
        Source { lines, next: 0, escape: '\\' }
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Reads the parser directives (`# escape=`, `# syntax=`, `# check=`) and sets the escape
    /// character. They are only directives while every line before them is one: the first line that
    /// is anything else (an instruction, a comment, an unknown directive, a blank line) ends them.
    /// The lines stay in the source; they are comments for everything after this.
    pub fn directives(&mut self) -> Result<Directives, ParseError> {
        let mut d = Directives { escape: '\\', notes: Vec::new() };
        let mut seen: Vec<String> = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let Some((key, value)) = directive(line) else { break };
            if seen.contains(&key) {
                return Err(ParseError::new(i + 1, format!("only one {key} parser directive can be used")));
            }
            match key.as_str() {
                "escape" => {
                    d.escape = match value {
                        "\\" => '\\',
                        "`" => '`',
                        other => {
                            let message = format!("invalid escape token '{other}' does not match ` or \\");
                            return Err(ParseError::new(i + 1, message));
                        }
                    }
                }
                "syntax" => d.notes.push(format!(
                    "line {}: `# syntax={value}` directive ignored: berth always uses its own Dockerfile frontend",
                    i + 1
                )),
                _ => d
                    .notes
                    .push(format!("line {}: `# check={value}` directive ignored: berth runs no build checks", i + 1)),
            }
            seen.push(key);
        }
        self.escape = d.escape;
        Ok(d)
    }

    /// The next instruction's text, or `None` at the end.
    pub fn next_logical(&mut self) -> Option<Logical> {
        while self.next < self.lines.len() {
            let start = self.next;
            self.next += 1;
            let first = self.lines[start].trim_start();
            if first.is_empty() || first.starts_with('#') {
                continue;
            }
            let (part, mut done) = self.cut_continuation(first);
            let mut text = part.to_string();
            let mut empty_continuation = false;
            while !done && self.next < self.lines.len() {
                let raw = self.lines[self.next];
                self.next += 1;
                let trimmed = raw.trim_start();
                if trimmed.starts_with('#') {
                    continue;
                }
                if trimmed.is_empty() {
                    empty_continuation = true;
                    continue;
                }
                // Unlike the first line, a continuation keeps its indentation: `RUN echo "\` +
                // `    hello"` prints the spaces.
                let (part, d) = self.cut_continuation(raw);
                text.push_str(part);
                done = d;
            }
            if text.trim().is_empty() {
                continue;
            }
            return Some(Logical { text, line: start + 1, empty_continuation });
        }
        None
    }

    /// Reads a here-document body after the instruction that opened it: the lines up to the one that
    /// is exactly the delimiter (after leading tabs with `<<-`), each with its newline. With
    /// `strip_tabs`, leading tabs are removed from the body too. `None` if the file ends first.
    pub fn heredoc_body(&mut self, delimiter: &str, strip_tabs: bool) -> Option<String> {
        let mut body = String::new();
        while self.next < self.lines.len() {
            let raw = self.lines[self.next];
            self.next += 1;
            let line = if strip_tabs { raw.trim_start_matches('\t') } else { raw };
            if line == delimiter {
                return Some(body);
            }
            body.push_str(line);
            body.push('\n');
        }
        None
    }

    /// Removes a trailing escape character (and any spaces or tabs after it) that continues the line.
    /// An escape character that is itself escaped (`C:\\`) does not continue it.
    fn cut_continuation<'l>(&self, line: &'l str) -> (&'l str, bool) {
        let t = line.trim_end_matches([' ', '\t']);
        if let Some(before) = t.strip_suffix(self.escape) {
            if before.is_empty() || !before.ends_with(self.escape) {
                return (before, false);
            }
        }
        (line, true)
    }
}

/// `# key = value` with a known key (lower-cased), or `None` if the line is not a directive.
fn directive(line: &str) -> Option<(String, &str)> {
    let body = line.trim_start().strip_prefix('#')?.trim_start();
    let key_len = body.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(body.len());
    let key = &body[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = body[key_len..].trim_start_matches(is_directive_space).strip_prefix('=')?;
    let value = value.trim_matches(is_directive_space);
    let key = key.to_ascii_lowercase();
    if value.is_empty() || !["syntax", "escape", "check"].contains(&key.as_str()) {
        return None;
    }
    Some((key, value))
}

fn is_directive_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c' | '\r' | '\x0b')
}

/// The separators of the whitespace-delimited forms (FROM, EXPOSE, COPY...): no quote handling.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Splits an instruction into its keyword and the rest.
pub(crate) fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(is_separator) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_separator)),
        None => (line, ""),
    }
}

/// Splits at runs of separators, as the whitespace-delimited forms do: quotes are not special,
/// so `COPY "a b" /x` has the sources `"a` and `b"` (the JSON form is the way to name such files).
pub(crate) fn split_whitespace(s: &str) -> Vec<String> {
    s.split(is_separator).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// Takes the leading `--flag[=value]` words off an instruction's arguments. Quotes in a flag are
/// removed and the escape character quotes the next character. A `--` word ends the flags.
/// Returns the flags and the remaining arguments, trimmed.
pub(crate) fn extract_flags(args: &str, escape: char) -> (Vec<String>, &str) {
    let chars: Vec<(usize, char)> = args.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(args.len(), |(b, _)| *b);
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while chars.get(i).is_some_and(|(_, c)| c.is_whitespace()) {
            i += 1;
        }
        let starts_flag =
            chars.get(i).is_some_and(|(_, c)| *c == '-') && chars.get(i + 1).is_some_and(|(_, c)| *c == '-');
        if !starts_flag {
            return (flags, args[at(i)..].trim());
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&(_, c)) = chars.get(i) {
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    i += 1;
                    match chars.get(i) {
                        Some(&(_, n)) => word.push(n),
                        None => break,
                    }
                }
                _ => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            return (flags, args[at(i)..].trim());
        }
        flags.push(word);
    }
}

/// Splits ENV, LABEL and ARG arguments into words at unquoted whitespace. Quotes and escapes are
/// kept: they are removed when the words are expanded, which is also when `"a b"` becomes `a b`.
pub(crate) fn quoted_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(q) if c == q => quote = None,
            // Nothing can be escaped inside single quotes.
            Some('\'') => {}
            _ if c == escape => {
                // An escape character at the very end is dropped.
                let Some(n) = chars.next() else { break };
                word.push(c);
                word.push(n);
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Splits a shell command into words the way a here-document is looked for in it (BuildKit's rule):
/// quotes and backslashes are kept and group characters, `<<` followed by blanks sticks to the
/// next word (`<< EOF`). An unterminated quote means no words at all: the line then has no heredoc
/// and the shell reports the quote when it runs.
pub(crate) fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                word.push(c);
                match c {
                    '\'' | '"' => quote = Some(c),
                    '\\' => {
                        if let Some(n) = chars.next() {
                            word.push(n);
                        }
                    }
                    '<' if chars.peek() == Some(&'<') => {
                        word.push('<');
                        chars.next();
                        while let Some(&b) = chars.peek().filter(|b| **b == ' ' || **b == '\t') {
                            word.push(b);
                            chars.next();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if quote.is_some() {
        return Vec::new();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(text: &str) -> Vec<(usize, String)> {
        let mut src = Source::new(text);
        src.directives().unwrap();
        std::iter::from_fn(|| src.next_logical()).map(|l| (l.line, l.text)).collect()
    }

    fn directives(text: &str) -> Result<Directives, ParseError> {
        Source::new(text).directives()
    }

    #[test]
    fn comments_blank_lines_and_indentation_are_skipped_with_line_numbers_kept() {
        let text = "# comment\n\n   # indented comment\nFROM alpine\n\n    RUN echo 'we are running some # of cool things'\r\n";
        assert_eq!(
            logical(text),
            [(4, "FROM alpine".to_string()), (6, "RUN echo 'we are running some # of cool things'".to_string())]
        );
    }

    #[test]
    fn continuations_join_lines_and_keep_the_continuation_lines_indentation() {
        let text = "RUN apt-get update && \\\n    apt-get install -y curl \\  \n && rm -rf /var/lib/apt/lists/*\nRUN echo \"\\\n     hello\\\n     world\"\n";
        assert_eq!(
            logical(text),
            [
                (1, "RUN apt-get update &&     apt-get install -y curl  && rm -rf /var/lib/apt/lists/*".to_string()),
                (4, "RUN echo \"     hello     world\"".to_string()),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines_inside_a_continuation_are_dropped() {
        let text = "RUN echo hello \\\n# comment\n\n   \nworld\nCMD x\n";
        let mut src = Source::new(text);
        let first = src.next_logical().unwrap();
        assert_eq!(first, Logical { text: "RUN echo hello world".into(), line: 1, empty_continuation: true });
        assert_eq!(src.next_logical().unwrap().line, 6);
    }

    #[test]
    fn an_escaped_escape_does_not_continue_and_a_continuation_may_end_the_file() {
        assert_eq!(logical("COPY a c:\\\\\nRUN dir\n"), [(1, "COPY a c:\\\\".into()), (2, "RUN dir".into())]);
        assert_eq!(logical("RUN a \\"), [(1, "RUN a ".into())]);
        assert_eq!(logical("RUN a \\\n\\\nb"), [(1, "RUN a b".into())], "a lone escape on a line continues too");
    }

    #[test]
    fn the_backtick_escape_directive_changes_continuations() {
        let text =
            "# escape=`\nFROM mcr.microsoft.com/windows/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  /w\n";
        assert_eq!(
            logical(text),
            [
                (2, "FROM mcr.microsoft.com/windows/nanoserver".into()),
                (3, "COPY testfile.txt c:\\".into()),
                (4, "RUN dir c:\\   /w".into()),
            ]
        );
    }

    #[test]
    fn directives_are_recognised_only_at_the_very_top() {
        let d = directives("#escape=`\n# syntax = docker/dockerfile:1.7\n#\tCHECK=skip=all\nFROM x\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.notes.len(), 2);
        assert!(d.notes[0].starts_with("line 2: `# syntax=docker/dockerfile:1.7` directive ignored"));
        assert!(d.notes[1].contains("`# check=skip=all`"));

        for text in [
            "FROM x\n# escape=`\n",
            "# About my dockerfile\n# escape=`\n",
            "\n# escape=`\n",
            "# unknowndirective=value\n# escape=`\n",
            "# esc \\\nape=`\n",
        ] {
            assert_eq!(directives(text).unwrap().escape, '\\', "{text:?}");
        }
    }

    #[test]
    fn a_repeated_directive_or_a_bad_escape_is_an_error() {
        let e = directives("# escape=`\n# escape=\\\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "only one escape parser directive can be used"));
        let e = directives("# syntax=a\n# Syntax=b\n").unwrap_err();
        assert_eq!(e.message, "only one syntax parser directive can be used");
        let e = directives("# escape=/\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "invalid escape token '/' does not match ` or \\"));
    }

    #[test]
    fn a_byte_order_mark_and_crlf_line_ends_are_ignored() {
        let text = "\u{feff}# escape=`\r\nFROM x\r\nRUN a `\r\n b\r\n";
        let mut src = Source::new(text);
        assert_eq!(src.directives().unwrap().escape, '`');
        assert_eq!(src.next_logical().unwrap().text, "FROM x");
        assert_eq!(src.next_logical().unwrap().text, "RUN a  b");

        let mut src = Source::new("RUN <<EOF\r\necho a\r\nEOF\r\n");
        src.next_logical();
        assert_eq!(src.heredoc_body("EOF", false).unwrap(), "echo a\n", "a script the shell can run");
    }

    #[test]
    fn heredoc_bodies_are_read_verbatim_up_to_their_delimiter() {
        let mut src = Source::new("RUN <<EOF\n  # not a comment\n\nEOF \nEOF\nnext\n");
        src.next_logical();
        assert_eq!(src.heredoc_body("EOF", false).unwrap(), "  # not a comment\n\nEOF \n");
        assert_eq!(src.next_logical().unwrap().text, "next");

        let mut src = Source::new("RUN <<-EOF\n\t\techo hi\n\t  x\n\tEOF\n");
        src.next_logical();
        assert_eq!(src.heredoc_body("EOF", true).unwrap(), "echo hi\n  x\n");

        let mut src = Source::new("RUN <<EOF\necho\n");
        src.next_logical();
        assert_eq!(src.heredoc_body("EOF", false), None);
    }

    #[test]
    fn keyword_and_flags_are_split_off() {
        assert_eq!(split_keyword("  run\t--network=none  make  "), ("run", "--network=none  make"));
        assert_eq!(split_keyword("CMD"), ("CMD", ""));
        let (flags, rest) =
            extract_flags("--mount=type=cache,target=/root/.cache --chown=\"a b\" go build ./...", '\\');
        assert_eq!(flags, ["--mount=type=cache,target=/root/.cache", "--chown=a b"]);
        assert_eq!(rest, "go build ./...");
        assert_eq!(extract_flags("-- --weird-name /dst", '\\'), (vec![], "--weird-name /dst"));
        assert_eq!(extract_flags("--link", '\\'), (vec!["--link".to_string()], ""));
        assert_eq!(extract_flags("-x --link a", '\\'), (vec![], "-x --link a"), "flags come first");
        assert_eq!(extract_flags(r"--chown=a\ b c d", '\\'), (vec!["--chown=a b".to_string()], "c d"));
    }

    #[test]
    fn quoted_words_keep_their_quotes_and_escapes() {
        assert_eq!(
            quoted_words(r#"MY_NAME="John Doe" MY_DOG=Rex\ The\ Dog MY_CAT='fluffy cat'  EMPTY="""#, '\\'),
            [r#"MY_NAME="John Doe""#, r"MY_DOG=Rex\ The\ Dog", "MY_CAT='fluffy cat'", r#"EMPTY="""#]
        );
        assert_eq!(quoted_words(r#"a="x\"y" b='c\'"#, '\\'), [r#"a="x\"y""#, r"b='c\'"]);
        assert_eq!(quoted_words("a=1 b\\", '\\'), ["a=1", "b"]);
    }

    #[test]
    fn shell_words_group_quotes_and_attach_blanks_after_double_angle() {
        assert_eq!(
            shell_words(r#"cat <<EOF > "/etc/my file" && echo '<<X'"#),
            ["cat", "<<EOF", ">", "\"/etc/my file\"", "&&", "echo", "'<<X'"]
        );
        assert_eq!(shell_words("python3 << 'EOF'"), ["python3", "<< 'EOF'"]);
        assert_eq!(shell_words(r"a\ b"), [r"a\ b"]);
        assert!(shell_words("echo 'unterminated <<EOF").is_empty());
    }
}
