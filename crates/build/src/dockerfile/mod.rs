//! The Dockerfile parser: text to stages of typed instructions.
//!
//! It follows the Dockerfile reference (<https://docs.docker.com/reference/dockerfile/>) and, where
//! the reference is silent, BuildKit's parser, which is what Dockerfiles are tested against:
//! parser directives, comments, line continuations, JSON (exec) and shell forms, flags, heredocs.
//!
//! # Where variables are expanded
//!
//! [`parse`] expands nothing: every value is kept as written (quotes included, e.g. an ENV value
//! `"hello world"`), because ARG and ENV values are only known while building. The builder calls
//! [`expand_kind`] on each instruction with the stage's ARG/ENV state at that point, which expands
//! exactly the fields the reference lists (ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME,
//! WORKDIR, plus ARG defaults and RUN mount paths, as BuildKit does) and removes their quotes. A
//! stage's [`From`] is expanded with the global ARGs (those before the first FROM) through
//! [`From::expand`]. RUN, CMD and ENTRYPOINT are left to the shell. ONBUILD triggers are expanded
//! when they run, in the image that is built on this one.
//!
//! # Heredocs
//!
//! `RUN <<EOF`, `RUN python3 <<EOF`, `COPY <<EOF /dest`: the bodies are read from the lines after
//! the instruction and attached to it ([`Heredoc`]), with the leading tabs of `<<-` bodies already
//! removed. For COPY and ADD each heredoc is an inline file named by its delimiter (kept apart from
//! [`Copy::sources`]); for RUN the command text still contains the `<<EOF` words and
//! [`shell_script`] rebuilds what the shell should run.

mod expand;
mod heredoc;
mod instruction;
mod lexer;
mod mount;

use std::time::Duration;

pub use expand::{expand, expand_heredoc, expand_kind, expand_words, Vars};

use instruction::Parsed;
use lexer::Source;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The global ARGs: those before the first FROM, usable in FROM lines.
    pub args_before_from: Vec<Arg>,
    pub stages: Vec<Stage>,
    /// Things worth telling the user that are not errors, e.g. "# syntax= directive ignored".
    pub notes: Vec<String>,
    /// The escape character (`# escape=` directive): `\` or `` ` ``. Expansion needs it.
    pub escape: char,
}

/// A build stage: a FROM and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its position, 0 for the first stage (`COPY --from=0` names it so).
    pub index: usize,
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    pub from: From,
    pub instructions: Vec<Instr>,
}

/// The FROM line of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image, or the name of an earlier stage, unexpanded: `FROM ${BASE}` is expanded with the
    /// global ARGs ([`From::expand`]).
    pub image: String,
    /// `--platform=`, unexpanded too.
    pub platform: Option<String>,
    pub line: usize,
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instr {
    /// The line the instruction starts on.
    pub line: usize,
    /// The instruction as written, continuation lines joined (escape characters and comment lines
    /// removed), trimmed: for cache keys and progress output. Heredoc bodies are not in it; see
    /// [`Instr::text_with_heredocs`].
    pub text: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Run {
        cmd: Command,
        mounts: Vec<RunMount>,
        /// `--network=default|none|host`, as given.
        network: Option<String>,
        /// Bodies of the `<<EOF` words in a shell-form command, in order.
        heredocs: Vec<Heredoc>,
    },
    /// `Exec(vec![])` for `CMD []` or a bare `CMD` (none).
    Cmd(Command),
    /// `Exec(vec![])` for `ENTRYPOINT []` or a bare `ENTRYPOINT`: clears the base image's.
    Entrypoint(Command),
    /// Key/value pairs, both as written (quotes and escapes kept until expansion).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<Arg>),
    /// Ports as written (`80`, `443/tcp`, `$PORT`); checked when expanded.
    Expose(Vec<String>),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    Copy(Copy),
    Add(Copy),
    /// The shell for shell forms, e.g. `["/bin/bash", "-c"]`.
    Shell(Vec<String>),
    StopSignal(String),
    /// `None` for `HEALTHCHECK NONE` (disables the base image's).
    Healthcheck(Option<Healthcheck>),
    /// A trigger stored in the image config; runs when another Dockerfile builds FROM this image.
    Onbuild(Box<Instr>),
    Maintainer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The JSON form: run directly, no shell.
    Exec(Vec<String>),
    /// The shell form, exactly as written (the escape character is not processed: the shell sees it).
    Shell(String),
}

/// An ARG: a build-time variable, with its default as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub default: Option<String>,
}

/// COPY or ADD. The ADD-only fields are `keep_git_dir`, `checksum` and `unpack`; `from` is COPY only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copy {
    /// Paths (or URLs, for ADD) as written; heredocs are not among them.
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=` a stage name, stage index, image or named context. Never contains variables.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// `COPY <<EOF /dest`: inline files, each named by its delimiter (`COPY <<app.conf /etc/`
    /// writes `/etc/app.conf`; with a single heredoc and a destination not ending in `/`, the
    /// destination is the file).
    pub heredocs: Vec<Heredoc>,
    /// ADD: keep `.git` when adding a Git repository.
    pub keep_git_dir: bool,
    /// `--exclude=` patterns, as written (not expanded, as in BuildKit).
    pub exclude: Vec<String>,
    /// ADD `--checksum=`: `sha256:<hex>` for HTTP sources, a commit (prefix) for Git. The builder
    /// must verify it or refuse the instruction.
    pub checksum: Option<String>,
    /// ADD `--unpack=`: `None` is the default (local archives are unpacked, remote ones are not).
    pub unpack: Option<bool>,
}

/// One `RUN --mount=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub kind: MountKind,
    /// Where it is mounted, as written (relative paths are relative to the WORKDIR). Always set for
    /// bind, cache and tmpfs; may be empty for secret (`/run/secrets/<id>` unless `env` is set) and
    /// ssh (`/run/buildkit/ssh_agent.<n>`).
    pub target: String,
    /// bind/cache: the path in `from`; secret: another name for `id`.
    pub source: Option<String>,
    /// bind/cache: a stage, image or context; the build context (bind) or empty (cache) if `None`.
    pub from: Option<String>,
    /// cache: the cache's identity (default: the target); secret/ssh: which secret or agent.
    pub id: Option<String>,
    /// Bind, secret and ssh mounts are read-only unless `rw`; caches and tmpfs are writable unless `ro`.
    pub readonly: bool,
    /// cache: `shared` (default), `private` or `locked`.
    pub sharing: Option<String>,
    /// cache/secret/ssh: octal mode as written, e.g. `0755`.
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// secret/ssh: fail if it is not provided.
    pub required: bool,
    /// tmpfs: size limit in bytes.
    pub size: Option<u64>,
    /// secret: expose it as this environment variable (instead of a file, unless `target` is set too).
    pub env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountKind {
    Cache,
    Bind,
    Tmpfs,
    Secret,
    Ssh,
}

/// A here-document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, unquoted.
    pub name: String,
    /// The body: every line up to the delimiter line, each ending in `\n` (also in a file with
    /// CRLF line ends), leading tabs already removed for `<<-`. Not expanded.
    pub content: String,
    /// False when any part of the delimiter was quoted or escaped (`<<"EOF"`, `<<'EOF'`,
    /// `<<E\OF`): the body is literal, as in a shell. (BuildKit ignores backslashes here.)
    pub expand: bool,
    /// Written `<<-EOF`.
    pub strip_tabs: bool,
    /// The file descriptor before `<<` (`3<<EOF`), if any.
    pub target_fd: Option<u32>,
}

/// HEALTHCHECK CMD with its options; an unset option (or 0) means docker's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", args...]` for the JSON form, `["CMD-SHELL", text]` for the shell form, as docker
    /// stores it in the image config.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

/// A parse error, at a line of the Dockerfile (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile:{line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError { line, message: message.into() }
    }
}

/// Parses a Dockerfile. The caller limits its size; the work is linear in it.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    if let Some(at) = text.find('\0') {
        return Err(ParseError::new(
            line_at(text.as_bytes(), at),
            "the Dockerfile is not text: it contains a NUL byte",
        ));
    }
    let mut src = Source::new(text);
    let directives = src.directives()?;
    let mut df = Dockerfile {
        args_before_from: Vec::new(),
        stages: Vec::new(),
        notes: directives.notes,
        escape: directives.escape,
    };
    let mut instructions = 0;
    let mut names = std::collections::HashSet::new();

    while let Some(logical) = src.next_logical() {
        instructions += 1;
        let line = logical.line;
        if logical.empty_continuation {
            df.notes.push(format!("line {line}: empty continuation line (docker warns that these will become errors)"));
        }
        match instruction::parse_instruction(&logical.text, line, &mut src).map_err(|m| ParseError::new(line, m))? {
            Parsed::From { from, name } => {
                if let Some(n) = &name {
                    if !names.insert(n.clone()) {
                        return Err(ParseError::new(line, format!("duplicate stage name {n:?}")));
                    }
                }
                df.stages.push(Stage { index: df.stages.len(), name, from, instructions: Vec::new() });
            }
            Parsed::Instr(instr) => match (df.stages.last_mut(), instr.kind) {
                (Some(stage), kind) => stage.instructions.push(Instr { kind, ..instr }),
                (None, Kind::Arg(args)) => df.args_before_from.extend(args),
                (None, kind) => {
                    let message = format!("{} before the first FROM: only ARG may come before FROM", kind.name());
                    return Err(ParseError::new(line, message));
                }
            },
        }
    }

    if df.stages.is_empty() {
        let message = if instructions == 0 {
            "no build stage in the Dockerfile: it has no instructions"
        } else {
            "no build stage in the Dockerfile: it has no FROM instruction"
        };
        return Err(ParseError::new(src.line_count().max(1), message));
    }
    Ok(df)
}

/// Parses a Dockerfile read as bytes, with a clear error for what is not UTF-8 text.
pub fn parse_bytes(bytes: &[u8]) -> Result<Dockerfile, ParseError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(ParseError::new(1, "the Dockerfile is not text: it is UTF-16 encoded; save it as UTF-8"));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let at = e.valid_up_to();
            Err(ParseError::new(line_at(bytes, at), format!("the Dockerfile is not text: invalid UTF-8 at byte {at}")))
        }
    }
}

fn line_at(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1
}

/// What the shell runs for a shell-form RUN with heredocs, as BuildKit builds it: a command that
/// is only one heredoc (`RUN <<EOF`) runs its body as the script; otherwise the bodies follow the
/// command, each closed by its delimiter, so the shell feeds them where the `<<` words are.
/// (BuildKit runs a lone heredoc body that starts with `#!` as an executable file instead; that is
/// the builder's call.)
pub fn shell_script(command: &str, heredocs: &[Heredoc]) -> String {
    if let [only] = heredocs {
        if heredoc::opener(command.trim()).is_some() {
            return only.content.clone();
        }
    }
    let mut script = command.to_string();
    for h in heredocs {
        script.push('\n');
        script.push_str(&h.content);
        script.push_str(&h.name);
    }
    script
}

impl Dockerfile {
    /// The stage a `--from=`, `FROM` or `--target` names: its `AS` name (any case) or its index.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }
}

impl From {
    /// The FROM line with its image and platform expanded, with the global ARGs.
    pub fn expand(&self, vars: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<From, String> {
        Ok(From {
            image: expand(&self.image, vars, escape)?,
            platform: self.platform.as_deref().map(|p| expand(p, vars, escape)).transpose()?,
            line: self.line,
        })
    }
}

impl Instr {
    /// The text with the heredoc bodies after it, each closed by its delimiter: what identifies the
    /// instruction completely (cache keys, and ONBUILD triggers as docker stores them).
    pub fn text_with_heredocs(&self) -> String {
        let mut s = self.text.clone();
        for h in self.kind.heredocs() {
            s.push('\n');
            s.push_str(&h.content);
            s.push_str(&h.name);
        }
        s
    }
}

impl Kind {
    /// The instruction's keyword, upper-case.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Run { .. } => "RUN",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Env(_) => "ENV",
            Kind::Label(_) => "LABEL",
            Kind::Arg(_) => "ARG",
            Kind::Expose(_) => "EXPOSE",
            Kind::Workdir(_) => "WORKDIR",
            Kind::User(_) => "USER",
            Kind::Volume(_) => "VOLUME",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
            Kind::Shell(_) => "SHELL",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Onbuild(_) => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }

    /// The heredocs of RUN, COPY and ADD (and of an ONBUILD trigger), else none.
    pub fn heredocs(&self) -> &[Heredoc] {
        match self {
            Kind::Run { heredocs, .. } => heredocs,
            Kind::Copy(c) | Kind::Add(c) => &c.heredocs,
            Kind::Onbuild(i) => i.kind.heredocs(),
            _ => &[],
        }
    }
}

impl RunMount {
    pub(crate) fn new(kind: MountKind) -> RunMount {
        RunMount {
            kind,
            target: String::new(),
            source: None,
            from: None,
            id: None,
            readonly: false,
            sharing: None,
            mode: None,
            uid: None,
            gid: None,
            required: false,
            size: None,
            env: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn err(text: &str) -> (usize, String) {
        let e = parse(text).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn a_multi_stage_go_build() {
        let text = r#"# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG BASE=gcr.io/distroless/static:nonroot

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
# Download dependencies first: they change less often than the code.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=bind,source=go.mod,target=go.mod \
    go mod download -x
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,target=. \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /bin/server ./cmd/server

FROM ${BASE} AS final
COPY --from=build /bin/server /bin/
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT [ "/bin/server" ]
"#;
        let df = parse(text).unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.notes.len(), 1);
        assert_eq!(
            df.args_before_from,
            [
                Arg { name: "GO_VERSION".into(), default: Some("1.22".into()) },
                Arg { name: "BASE".into(), default: Some("gcr.io/distroless/static:nonroot".into()) },
            ]
        );
        assert_eq!(df.stages.len(), 2);

        let build = &df.stages[0];
        assert_eq!((build.index, build.name.as_deref()), (0, Some("build")));
        assert_eq!(
            build.from,
            From { image: "golang:${GO_VERSION}-alpine".into(), platform: Some("$BUILDPLATFORM".into()), line: 5 }
        );
        assert_eq!(
            build.instructions.iter().map(|i| (i.line, i.kind.name())).collect::<Vec<_>>(),
            [(6, "WORKDIR"), (8, "RUN"), (12, "ARG"), (13, "RUN")]
        );
        let Kind::Run { cmd, mounts, .. } = &build.instructions[1].kind else { panic!() };
        assert_eq!(cmd, &Command::Shell("go mod download -x".into()));
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            build.instructions[1].text,
            "RUN --mount=type=cache,target=/go/pkg/mod     --mount=type=bind,source=go.sum,target=go.sum     --mount=type=bind,source=go.mod,target=go.mod     go mod download -x"
        );

        let final_ = &df.stages[1];
        assert_eq!(
            (final_.index, final_.name.as_deref(), final_.from.image.as_str(), final_.from.line),
            (1, Some("final"), "${BASE}", 17)
        );
        assert_eq!(
            final_.instructions.last().unwrap().kind,
            Kind::Entrypoint(Command::Exec(vec!["/bin/server".into()]))
        );
    }

    #[test]
    fn a_debian_image_with_heredocs_and_healthcheck() {
        let text = "FROM debian:bookworm-slim\n\
            ENV DEBIAN_FRONTEND=noninteractive \\\n    LANG=C.UTF-8\n\
            RUN <<EOT bash\n  set -ex\n  apt-get update\n  apt-get install -y vim\nEOT\n\
            COPY <<-EOF /etc/app/app.conf\n\tport = ${PORT:-80}\n\tEOF\n\
            HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1\n\
            CMD [\"nginx\", \"-g\", \"daemon off;\"]\n";
        let df = parse(text).unwrap();
        let ins = &df.stages[0].instructions;
        assert_eq!(ins.iter().map(|i| i.line).collect::<Vec<_>>(), [2, 4, 9, 12, 13]);
        assert_eq!(
            ins[0].kind,
            Kind::Env(vec![("DEBIAN_FRONTEND".into(), "noninteractive".into()), ("LANG".into(), "C.UTF-8".into())])
        );
        let Kind::Run { cmd, heredocs, .. } = &ins[1].kind else { panic!() };
        assert_eq!(cmd, &Command::Shell("<<EOT bash".into()));
        assert_eq!(heredocs[0].content, "  set -ex\n  apt-get update\n  apt-get install -y vim\n");
        assert_eq!(
            ins[1].text_with_heredocs(),
            "RUN <<EOT bash\n  set -ex\n  apt-get update\n  apt-get install -y vim\nEOT"
        );
        let Kind::Copy(c) = &ins[2].kind else { panic!() };
        assert_eq!((c.dest.as_str(), c.heredocs[0].content.as_str()), ("/etc/app/app.conf", "port = ${PORT:-80}\n"));
        let Kind::Healthcheck(Some(h)) = &ins[3].kind else { panic!() };
        assert_eq!(h.interval, Some(Duration::from_secs(300)));
    }

    #[test]
    fn windows_dockerfiles_use_the_backtick_escape() {
        let text = "# escape=`\n\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nCOPY testfile.txt c:\\\nRUN dir c:\\ ; `\n    Write-Host done\n";
        let df = parse(text).unwrap();
        assert_eq!(df.escape, '`');
        let ins = &df.stages[0].instructions;
        let Kind::Copy(c) = &ins[0].kind else { panic!() };
        assert_eq!(c.dest, "c:\\");
        assert_eq!(
            ins[1].kind,
            Kind::Run {
                cmd: Command::Shell("dir c:\\ ;     Write-Host done".into()),
                mounts: vec![],
                network: None,
                heredocs: vec![]
            }
        );
    }

    #[test]
    fn without_the_directive_a_trailing_backslash_joins_lines() {
        let df = parse("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\n").unwrap();
        let ins = &df.stages[0].instructions;
        assert_eq!(ins.len(), 1);
        assert_eq!(ins[0].text, "COPY testfile.txt c:RUN dir c:");
    }

    #[test]
    fn stage_names_are_unique_and_lower_cased() {
        let df = parse("FROM alpine AS Base\nFROM base AS app\nFROM scratch\n").unwrap();
        assert_eq!(
            df.stages.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            [Some("base".into()), Some("app".into()), None]
        );
        assert_eq!(df.stages[2].index, 2);
        assert_eq!(df.stage("BASE").map(|s| s.index), Some(0));
        assert_eq!(df.stage("1").map(|s| s.index), Some(1));
        assert_eq!(df.stage("3").map(|s| s.index), None);
        assert_eq!(df.stage("alpine").map(|s| s.index), None);
        assert_eq!(
            err("FROM alpine AS base\nRUN true\nFROM debian AS BASE\n"),
            (3, "duplicate stage name \"base\"".into())
        );
        assert_eq!(
            err("FROM alpine AS my_stage!\n"),
            (
                1,
                "invalid name for build stage: \"my_stage!\", name can't start with a number or contain symbols".into()
            )
        );
    }

    #[test]
    fn only_arg_may_come_before_from() {
        let df = parse("ARG A=1 B\nARG C\nFROM alpine:${A}\n").unwrap();
        assert_eq!(df.args_before_from.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["A", "B", "C"]);
        assert_eq!(
            err("# comment\nRUN echo hi\nFROM alpine\n"),
            (2, "RUN before the first FROM: only ARG may come before FROM".into())
        );
        assert_eq!(
            err("ENV A=1\nFROM alpine\n"),
            (1, "ENV before the first FROM: only ARG may come before FROM".into())
        );
    }

    #[test]
    fn a_dockerfile_needs_a_stage() {
        assert_eq!(err(""), (1, "no build stage in the Dockerfile: it has no instructions".into()));
        assert_eq!(
            err("# only\n\n# comments\n"),
            (3, "no build stage in the Dockerfile: it has no instructions".into())
        );
        assert_eq!(err("ARG VERSION=1\n"), (1, "no build stage in the Dockerfile: it has no FROM instruction".into()));
    }

    #[test]
    fn errors_carry_the_line_where_the_instruction_starts() {
        let text = "FROM alpine\n\nRUN apk add \\\n    curl\nCOPY \\\n  onlyone\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, 5);
        assert_eq!(
            e.to_string(),
            "Dockerfile:5: COPY needs at least two arguments: one or more sources and a destination"
        );
        assert_eq!(err("FROM alpine\nRUNN make\n"), (2, "unknown instruction: RUNN (did you mean RUN?)".into()));
        assert_eq!(err("FROM alpine\nCOPY --foo a b\n"), (2, "unknown flag: --foo".into()));
        assert_eq!(
            err("FROM alpine\nSHELL [\"sh\", 1]\n"),
            (2, "when using JSON array syntax, arrays must be comprised of strings only".into())
        );
        assert_eq!(
            err("FROM\n"),
            (1, "FROM requires either one or three arguments: FROM [--platform=<platform>] <image> [AS <name>]".into())
        );
        assert_eq!(
            err("FROM alpine\nRUN true\nRUN <<EOF\necho\n"),
            (3, "unterminated heredoc <<EOF started on line 3: no line with just `EOF` ends it".into())
        );
        assert_eq!(err("# escape=x\nFROM alpine\n"), (1, "invalid escape token 'x' does not match ` or \\".into()));
    }

    #[test]
    fn lines_after_a_heredoc_are_numbered_from_the_file() {
        let df = parse("FROM alpine\nRUN <<A <<B\n1\nA\n2\nB\nUSER app\n").unwrap();
        assert_eq!(df.stages[0].instructions[1].line, 7);
    }

    #[test]
    fn notes_for_ignored_directives_and_empty_continuation_lines() {
        let df = parse("# syntax=docker/dockerfile:1\n# check=error=true\nFROM alpine\nRUN a \\\n\n  b\n").unwrap();
        assert_eq!(df.notes.len(), 3);
        assert!(df.notes[0].contains("syntax"));
        assert!(df.notes[1].contains("check"));
        assert_eq!(df.notes[2], "line 4: empty continuation line (docker warns that these will become errors)");
    }

    #[test]
    fn binary_files_are_refused_with_a_clear_error() {
        assert_eq!(err("FROM alpine\nRUN a\0b\n"), (2, "the Dockerfile is not text: it contains a NUL byte".into()));
        let e = parse_bytes(b"FROM alpine\n\xff\xd8\xff\xe0").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "the Dockerfile is not text: invalid UTF-8 at byte 12"));
        let e = parse_bytes(b"\xff\xfeF\0R\0O\0M\0").unwrap_err();
        assert!(e.message.contains("UTF-16"));
        assert!(parse_bytes(b"FROM alpine\n").is_ok());
    }

    #[test]
    fn onbuild_triggers_keep_their_text() {
        let df = parse("FROM node:20\nONBUILD COPY package*.json ./\nONBUILD RUN npm ci\n").unwrap();
        let Kind::Onbuild(t) = &df.stages[0].instructions[0].kind else { panic!() };
        assert_eq!((t.line, t.text.as_str()), (2, "COPY package*.json ./"));
        assert_eq!(df.stages[0].instructions[1].text, "ONBUILD RUN npm ci");
    }

    #[test]
    fn shell_script_puts_heredoc_bodies_where_the_shell_expects_them() {
        let df = parse("FROM alpine\nRUN <<EOF\nmkdir -p /foo\nEOF\nRUN <<A cat > /a && <<-'B' cat > /b\n1\nA\n\t2\n\tB\nRUN echo plain\n").unwrap();
        let scripts: Vec<String> = df.stages[0]
            .instructions
            .iter()
            .map(|i| match &i.kind {
                Kind::Run { cmd: Command::Shell(s), heredocs, .. } => shell_script(s, heredocs),
                _ => panic!(),
            })
            .collect();
        assert_eq!(scripts, ["mkdir -p /foo\n", "<<A cat > /a && <<-'B' cat > /b\n1\nA\n2\nB", "echo plain"]);
    }

    #[test]
    fn from_lines_expand_with_the_global_args() {
        let df = parse("ARG REGISTRY=docker.io\nARG TAG\nFROM --platform=${PLATFORM:-linux/amd64} $REGISTRY/library/alpine:${TAG:-3.20}\n").unwrap();
        let globals: HashMap<&str, &str> =
            df.args_before_from.iter().filter_map(|a| Some((a.name.as_str(), a.default.as_deref()?))).collect();
        let from = df.stages[0].from.expand(&|k| globals.get(k).map(|v| v.to_string()), df.escape).unwrap();
        assert_eq!(from.image, "docker.io/library/alpine:3.20");
        assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
    }

    #[test]
    fn values_stay_raw_until_expand_kind() {
        let df = parse("FROM alpine\nENV GREETING=\"hello world\" NAME=$USER\nWORKDIR $HOME/app\n").unwrap();
        let ins = &df.stages[0].instructions;
        assert_eq!(
            ins[0].kind,
            Kind::Env(vec![("GREETING".into(), "\"hello world\"".into()), ("NAME".into(), "$USER".into())])
        );
        let vars = |k: &str| (k == "USER" || k == "HOME").then(|| format!("/{k}"));
        assert_eq!(
            expand_kind(&ins[0].kind, &vars, df.escape).unwrap(),
            Kind::Env(vec![("GREETING".into(), "hello world".into()), ("NAME".into(), "/USER".into())])
        );
        assert_eq!(expand_kind(&ins[1].kind, &vars, df.escape).unwrap(), Kind::Workdir("/HOME/app".into()));
    }

    #[test]
    fn parse_error_displays_as_dockerfile_line_message() {
        let e = ParseError { line: 12, message: "unknown instruction: FOO".into() };
        assert_eq!(e.to_string(), "Dockerfile:12: unknown instruction: FOO");
    }

    #[test]
    fn large_files_parse_in_linear_time() {
        let mut text = String::from("FROM alpine\n");
        for i in 0..20_000 {
            text.push_str(&format!("RUN echo {i} \\\n    && true\n# comment\nENV K{i}=v{i}\n"));
        }
        let df = parse(&text).unwrap();
        assert_eq!(df.stages[0].instructions.len(), 40_000);
    }
}
