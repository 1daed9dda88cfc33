//! `.dockerignore`: which files of the context a build may not see. Docker's
//! rules (moby's patternmatcher): one pattern per line, `#` comments, paths
//! cleaned and relative to the context root (a leading `/` is dropped),
//! Go's `filepath.Match` syntax plus `**` for any number of directories,
//! `!` re-includes; the last pattern that matches a path decides. A path is
//! also excluded when one of its parent directories is.

/// One pattern, split into path components.
#[derive(Clone, Debug)]
struct Pattern {
    parts: Vec<String>,
    exclusion: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the contents of a `.dockerignore` file.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, p) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let parts: Vec<String> =
                clean(p).split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_string).collect();
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts, exclusion });
        }
        Ignore { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `rel` (a path relative to the context, `/`-separated) is
    /// excluded, itself or through a parent directory.
    pub fn excludes(&self, rel: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        // A parent that is excluded excludes its children, unless a later
        // exclusion pattern brings the child back (docker checks the path and
        // each of its parents against every pattern, in order).
        let mut excluded = false;
        for p in &self.patterns {
            let hit = (1..=parts.len()).any(|n| matches(&p.parts, &parts[..n]));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether anything below the directory `rel` could be re-included by a
    /// `!` pattern: if not, an excluded directory need not be walked.
    pub fn may_reinclude_below(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        self.patterns
            .iter()
            .any(|p| p.exclusion && (p.parts.iter().any(|s| s == "**") || prefix_could_match(&p.parts, &parts)))
    }
}

/// Lexical cleaning as Go's filepath.Clean, enough for patterns.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn prefix_could_match(pattern: &[String], dir: &[&str]) -> bool {
    if pattern.len() <= dir.len() {
        return false;
    }
    pattern.iter().zip(dir).all(|(p, d)| p == "**" || glob(p, d))
}

/// Component-wise match with `**` standing for zero or more components.
fn matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|skip| matches(rest, &path[skip..])),
        Some((p, rest)) => match path.split_first() {
            Some((first, tail)) => glob(p, first) && matches(rest, tail),
            None => false,
        },
    }
}

/// Go's filepath.Match for one component: `*`, `?`, `[...]` classes with
/// ranges and `^` negation, `\` escapes.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| glob_at(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((true, used)) => glob_at(&p[1 + used..], &n[1..]),
                _ => false,
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && glob_at(&p[1..], &n[1..]),
    }
}

/// Matches `c` against a class body (after `[`); (matched, chars used incl. `]`).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = if p[i] == '\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            p[i]
        };
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_exclude_files_and_everything_below_directories() {
        let i = Ignore::parse("# comment\n\n*.log\n/build\nsecret.txt\n");
        assert!(i.excludes("app.log"));
        assert!(!i.excludes("logs/app.log"), "* does not cross directories");
        assert!(i.excludes("build"));
        assert!(i.excludes("build/out/x.o"));
        assert!(i.excludes("secret.txt"));
        assert!(!i.excludes("src/main.rs"));
    }

    #[test]
    fn double_star_spans_directories_and_exceptions_come_back() {
        let i = Ignore::parse("**/*.tmp\nnode_modules\n!node_modules/keep.js\n");
        assert!(i.excludes("a/b/c.tmp"));
        assert!(i.excludes("c.tmp"));
        assert!(i.excludes("node_modules/lib/x.js"));
        assert!(!i.excludes("node_modules/keep.js"));
        assert!(i.may_reinclude_below("node_modules"));
        assert!(!Ignore::parse("node_modules\n").may_reinclude_below("node_modules"));
    }

    #[test]
    fn the_last_matching_pattern_decides() {
        let i = Ignore::parse("*.md\n!README.md\nREADME.md\n");
        assert!(i.excludes("README.md"));
        let j = Ignore::parse("docs\n!docs/keep\n");
        assert!(!j.excludes("docs/keep"));
        assert!(j.excludes("docs/other"));
    }

    #[test]
    fn go_match_syntax() {
        assert!(glob("a?c", "abc"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[^a-c]x", "bx"));
        assert!(glob("\\*", "*"));
        assert!(!glob("\\*", "a"));
        assert!(glob("*.[ch]", "main.c"));
        assert!(!glob("[", "["), "a malformed class matches nothing");
        assert!(Ignore::parse("./a/../b/c\n").excludes("b/c"), "patterns are cleaned");
    }
}
