//! Recognising here-document openers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) in RUN, COPY and ADD.

use super::lexer::{shell_words, Source};
use super::Heredoc;

/// A heredoc opener, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opener {
    pub name: String,
    pub expand: bool,
    pub strip_tabs: bool,
    pub target_fd: Option<u32>,
}

/// Parses one word as a heredoc opener: optional file descriptor digits, `<<`, optional `-`,
/// optional blanks, and a delimiter that is a single shell word without `<` (so `<<<` here-strings
/// are not heredocs). Quoting any part of the delimiter turns expansion off, as in a shell.
pub(crate) fn opener(word: &str) -> Option<Opener> {
    let digits = word.find(|c: char| !c.is_ascii_digit()).unwrap_or(word.len());
    let rest = word[digits..].strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let (name, quoted) = unquote(rest)?;
    let target_fd = if digits == 0 { None } else { word[..digits].parse().ok() };
    Some(Opener { name, expand: !quoted, strip_tabs, target_fd })
}

/// All heredoc openers of a shell-form command, in order.
pub(crate) fn openers_in_shell(command: &str) -> Vec<Opener> {
    shell_words(command).iter().filter_map(|w| opener(w)).collect()
}

/// Reads the bodies of `openers`, in order, from the lines after the instruction. `line` is where
/// the instruction starts, for the error.
pub(crate) fn read_bodies(openers: Vec<Opener>, src: &mut Source, line: usize) -> Result<Vec<Heredoc>, String> {
    openers
        .into_iter()
        .map(|o| {
            let content = src.heredoc_body(&o.name, o.strip_tabs).ok_or_else(|| {
                format!("unterminated heredoc <<{0} started on line {line}: no line with just `{0}` ends it", o.name)
            })?;
            Ok(Heredoc { name: o.name, content, expand: o.expand, strip_tabs: o.strip_tabs, target_fd: o.target_fd })
        })
        .collect()
}

/// The delimiter with quotes and backslashes removed, and whether there were any. `None` if it is
/// not one word (`<<EOF x` was split before; `<<"A" "B"` cannot be a delimiter).
fn unquote(s: &str) -> Option<(String, bool)> {
    let mut name = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => name.push(c),
                    }
                }
            }
            '"' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            n @ ('"' | '\\' | '$' | '`') => name.push(n),
                            n => {
                                name.push('\\');
                                name.push(n);
                            }
                        },
                        c => name.push(c),
                    }
                }
            }
            '\\' => {
                quoted = true;
                name.push(chars.next()?);
            }
            c if c.is_whitespace() => return None,
            c => name.push(c),
        }
    }
    (!name.is_empty()).then_some((name, quoted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(name: &str, expand: bool, strip_tabs: bool, target_fd: Option<u32>) -> Opener {
        Opener { name: name.into(), expand, strip_tabs, target_fd }
    }

    #[test]
    fn openers_and_their_options() {
        assert_eq!(opener("<<EOF"), Some(o("EOF", true, false, None)));
        assert_eq!(opener("<<-EOT"), Some(o("EOT", true, true, None)));
        assert_eq!(opener("<<\"EOF\""), Some(o("EOF", false, false, None)));
        assert_eq!(opener("<<-'END'"), Some(o("END", false, true, None)));
        assert_eq!(opener("<<E'O'F"), Some(o("EOF", false, false, None)), "quoting part of it is enough");
        assert_eq!(opener("<<\\EOF"), Some(o("EOF", false, false, None)));
        assert_eq!(opener("3<<EOF"), Some(o("EOF", true, false, Some(3))));
        assert_eq!(opener("<< EOF"), Some(o("EOF", true, false, None)));
        assert_eq!(opener("<<file.txt"), Some(o("file.txt", true, false, None)));
    }

    #[test]
    fn words_that_are_not_openers() {
        for w in ["<<", "<<-", "<<<EOF", "cat<<EOF", "x<<EOF", "'<<EOF'", "<EOF", "<<\"unterminated", "<<''"] {
            assert_eq!(opener(w), None, "{w}");
        }
    }

    #[test]
    fn openers_in_a_shell_command() {
        let found = openers_in_shell("<<FILE1 cat > file1 && <<-'FILE2' cat > file2");
        assert_eq!(found, [o("FILE1", true, false, None), o("FILE2", false, true, None)]);
        assert!(openers_in_shell("echo '<<EOF' \"<<EOF\" $((1<<2))").is_empty());
        assert_eq!(openers_in_shell("python3 << 'PY'"), [o("PY", false, false, None)]);
    }

    #[test]
    fn bodies_are_read_in_order_and_an_unterminated_one_names_its_start() {
        let mut src = Source::new("RUN <<A <<B\na\nA\nb\nB\n");
        src.next_logical();
        let docs = read_bodies(openers_in_shell("<<A <<B"), &mut src, 1).unwrap();
        assert_eq!((docs[0].content.as_str(), docs[1].content.as_str()), ("a\n", "b\n"));

        let mut src = Source::new("FROM x\nRUN <<EOF\necho\nEOF2\n");
        src.next_logical();
        src.next_logical();
        let err = read_bodies(openers_in_shell("<<EOF"), &mut src, 2).unwrap_err();
        assert_eq!(err, "unterminated heredoc <<EOF started on line 2: no line with just `EOF` ends it");
    }
}
