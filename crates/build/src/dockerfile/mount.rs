//! `RUN --mount=type=cache,target=/root/.cache,...`: one comma-separated (CSV) list of options.

use super::instruction::suggest;
use super::{MountKind, RunMount};

const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "env",
];

impl MountKind {
    fn parse(value: &str) -> Result<MountKind, String> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "bind" => MountKind::Bind,
            "cache" => MountKind::Cache,
            "tmpfs" => MountKind::Tmpfs,
            "secret" => MountKind::Secret,
            "ssh" => MountKind::Ssh,
            _ => {
                let hint = suggest(value, &["bind", "cache", "tmpfs", "secret", "ssh"])
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                return Err(format!("unsupported mount type {value:?}{hint}"));
            }
        })
    }

    /// The name used in `type=`.
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
            MountKind::Ssh => "ssh",
        }
    }
}

/// Parses one `--mount` value. Strings that may hold variables (`target`, `source`, `id`, `env`)
/// are kept as written for [`super::expand_kind`]; the others must be literal here, because they
/// are checked here (BuildKit expands those too, at build time; nobody seems to use that).
pub(crate) fn parse_mount(value: &str) -> Result<RunMount, String> {
    let fields = csv_fields(value)?;
    // The type decides which options are allowed, wherever it is in the list.
    let mut kind = MountKind::Bind;
    for field in &fields {
        if let Some((k, v)) = field.split_once('=') {
            if k.eq_ignore_ascii_case("type") {
                kind = MountKind::parse(literal("type", v)?)?;
            }
        }
    }
    let mut m = RunMount::new(kind);
    let mut readonly: Option<bool> = None;
    let file_info = matches!(kind, MountKind::Cache | MountKind::Secret | MountKind::Ssh);

    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "ro" | "readonly" => readonly = Some(true),
                "rw" | "readwrite" => readonly = Some(false),
                "required" if matches!(kind, MountKind::Secret | MountKind::Ssh) => m.required = true,
                "required" => return Err(unexpected_for_type(&key, kind)),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => {}
            "from" => {
                if value.strip_suffix('$').unwrap_or(value).contains('$') {
                    return Err("'from' doesn't support variable expansion, define alias stage instead".to_string());
                }
                m.from = Some(value.to_string());
            }
            "source" | "src" => m.source = Some(value.to_string()),
            "target" | "dst" | "destination" => m.target = value.to_string(),
            "id" => m.id = Some(value.to_string()),
            "env" => m.env = Some(value.to_string()),
            "ro" | "readonly" => readonly = Some(parse_bool(&key, value)?),
            "rw" | "readwrite" => readonly = Some(!parse_bool(&key, value)?),
            "required" if matches!(kind, MountKind::Secret | MountKind::Ssh) => m.required = parse_bool(&key, value)?,
            "size" if kind == MountKind::Tmpfs => m.size = Some(parse_size(literal(&key, value)?)?),
            "sharing" => {
                let v = literal(&key, value)?.to_ascii_lowercase();
                if !["shared", "private", "locked"].contains(&v.as_str()) {
                    return Err(format!("unsupported sharing value {value:?} (shared, private or locked)"));
                }
                m.sharing = Some(v);
            }
            "mode" | "uid" | "gid" => {
                let v = literal(&key, value)?;
                if !file_info {
                    return Err(format!("{key} not allowed for {:?} type mounts", kind.as_str()));
                }
                let radix = if key == "mode" { 8 } else { 10 };
                let n = u32::from_str_radix(v, radix).map_err(|_| format!("invalid value {v} for {key}"))?;
                match key.as_str() {
                    "mode" if n > 0o7777 => return Err(format!("invalid value {v} for mode")),
                    "mode" => m.mode = Some(v.to_string()),
                    "uid" => m.uid = Some(n),
                    _ => m.gid = Some(n),
                }
            }
            "required" | "size" => return Err(unexpected_for_type(&key, kind)),
            _ => {
                let hint = suggest(&key, KEYS).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
                return Err(format!("unexpected key '{key}' in '{field}'{hint}"));
            }
        }
    }

    // Bind, secret and ssh mounts are read-only unless asked otherwise; caches and tmpfs are not.
    m.readonly = readonly.unwrap_or(!matches!(kind, MountKind::Cache | MountKind::Tmpfs));

    if m.sharing.is_some() && kind != MountKind::Cache {
        return Err(format!("invalid cache sharing set for {} mount", kind.as_str()));
    }
    match kind {
        MountKind::Secret => {
            if m.from.is_some() {
                return Err("secret mount should not have a from".to_string());
            }
            if m.source.is_none() && m.target.is_empty() && m.id.is_none() {
                return Err("invalid secret mount. one of source, target required".to_string());
            }
            if m.source.is_some() && m.id.is_some() {
                return Err("both source and id can't be set".to_string());
            }
        }
        MountKind::Ssh => {}
        _ if m.target.is_empty() => {
            return Err(format!("mount target not set: type={} needs target=<path>", kind.as_str()));
        }
        _ => {}
    }
    if m.env.is_some() && kind != MountKind::Secret {
        return Err(unexpected_for_type("env", kind));
    }
    Ok(m)
}

fn unexpected_for_type(key: &str, kind: MountKind) -> String {
    format!("unexpected key '{key}' for mount type '{}'", kind.as_str())
}

/// Options that are checked here cannot wait for variables to be expanded.
fn literal<'v>(key: &str, value: &'v str) -> Result<&'v str, String> {
    if value.contains('$') {
        return Err(format!("variables are not supported in the mount option {key}={value}"));
    }
    Ok(value)
}

/// Go's strconv.ParseBool, which BuildKit uses: `1`, `t`, `true`, `0`, `f`, `false` in a few cases.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match literal(key, value)? {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// A tmpfs size as docker takes it (`64m`, `1g`, `512k`, `100` bytes; binary units, optional `b`).
fn parse_size(value: &str) -> Result<u64, String> {
    let bad = || format!("invalid value for size: {value}");
    let lower = value.trim().to_ascii_lowercase();
    let num_end = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Splits one CSV record: fields are separated by commas; a field that starts with `"` runs to the
/// closing quote, `""` inside it being one quote (so `"target=/a,b"` keeps its comma).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("failed to parse csv mounts: unterminated quote in {s:?}")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => {
                    return Err(format!("failed to parse csv mounts: unexpected {c:?} after a quoted field in {s:?}"))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mounts_with_every_option() {
        let m = parse_mount(
            "type=cache,target=/root/.cache/go-build,id=gobuild,sharing=locked,mode=0777,uid=1000,gid=1000",
        )
        .unwrap();
        assert_eq!(m.kind, MountKind::Cache);
        assert_eq!(m.target, "/root/.cache/go-build");
        assert_eq!(m.id.as_deref(), Some("gobuild"));
        assert_eq!(m.sharing.as_deref(), Some("locked"));
        assert_eq!((m.mode.as_deref(), m.uid, m.gid), (Some("0777"), Some(1000), Some(1000)));
        assert!(!m.readonly, "caches are writable by default");

        let m = parse_mount("type=cache,dst=/var/cache/apt,from=builder,source=/cache,ro").unwrap();
        assert_eq!(
            (m.target.as_str(), m.from.as_deref(), m.source.as_deref(), m.readonly),
            ("/var/cache/apt", Some("builder"), Some("/cache"), true)
        );
    }

    #[test]
    fn bind_is_the_default_and_read_only_unless_rw() {
        let m = parse_mount("target=/src").unwrap();
        assert_eq!((m.kind, m.readonly), (MountKind::Bind, true));
        let m = parse_mount("type=bind,source=go.sum,target=go.sum,rw").unwrap();
        assert!(!m.readonly);
        let m = parse_mount("type=bind,target=/x,readwrite=false").unwrap();
        assert!(m.readonly);
        let m = parse_mount("type=BIND,Target=/x,RO=true").unwrap();
        assert!(m.readonly, "keys and types are case-insensitive");
    }

    #[test]
    fn secrets_ssh_and_tmpfs() {
        let m = parse_mount("type=secret,id=npmrc,target=/root/.npmrc,required").unwrap();
        assert_eq!((m.kind, m.id.as_deref(), m.required, m.readonly), (MountKind::Secret, Some("npmrc"), true, true));
        let m = parse_mount("type=secret,id=aws,env=AWS_ACCESS_KEY_ID").unwrap();
        assert_eq!(
            (m.env.as_deref(), m.target.as_str()),
            (Some("AWS_ACCESS_KEY_ID"), ""),
            "no target: the builder picks /run/secrets/<id>"
        );
        let m = parse_mount("type=ssh").unwrap();
        assert_eq!((m.kind, m.target.as_str()), (MountKind::Ssh, ""));
        let m = parse_mount("type=ssh,id=gitlab,required=true,mode=0600").unwrap();
        assert!(m.required);
        let m = parse_mount("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!((m.kind, m.size), (MountKind::Tmpfs, Some(64 << 20)));
    }

    #[test]
    fn quoted_csv_fields_may_hold_commas() {
        let m = parse_mount("type=bind,\"source=a,b\",target=/x").unwrap();
        assert_eq!(m.source.as_deref(), Some("a,b"));
        assert!(parse_mount("type=bind,\"target=/x").unwrap_err().contains("unterminated quote"));
    }

    #[test]
    fn variables_are_kept_for_paths_and_ids_but_refused_where_checked() {
        let m = parse_mount("type=cache,target=$HOME/.cache,id=${CACHE_ID}").unwrap();
        assert_eq!((m.target.as_str(), m.id.as_deref()), ("$HOME/.cache", Some("${CACHE_ID}")));
        assert_eq!(
            parse_mount("type=cache,target=/x,uid=$UID").unwrap_err(),
            "variables are not supported in the mount option uid=$UID"
        );
        assert_eq!(
            parse_mount("type=bind,from=$STAGE,target=/x").unwrap_err(),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
    }

    #[test]
    fn mistakes_are_reported() {
        let err = |s: &str| parse_mount(s).unwrap_err();
        assert_eq!(err("type=volume,target=/x"), "unsupported mount type \"volume\"");
        assert_eq!(err("type=cahce,target=/x"), "unsupported mount type \"cahce\" (did you mean cache?)");
        assert_eq!(err("type=cache,targte=/x"), "unexpected key 'targte' in 'targte=/x' (did you mean target?)");
        assert_eq!(err("type=cache,target=/x,exec"), "invalid field 'exec' must be a key=value pair");
        assert_eq!(err("type=cache"), "mount target not set: type=cache needs target=<path>");
        assert_eq!(err("type=bind,target=/x,sharing=locked"), "invalid cache sharing set for bind mount");
        assert_eq!(
            err("type=cache,target=/x,sharing=exclusive"),
            "unsupported sharing value \"exclusive\" (shared, private or locked)"
        );
        assert_eq!(err("type=bind,target=/x,uid=0"), "uid not allowed for \"bind\" type mounts");
        assert_eq!(err("type=cache,target=/x,mode=999"), "invalid value 999 for mode");
        assert_eq!(err("type=cache,target=/x,required"), "unexpected key 'required' for mount type 'cache'");
        assert_eq!(err("type=bind,target=/x,size=1m"), "unexpected key 'size' for mount type 'bind'");
        assert_eq!(err("type=bind,target=/x,ro=maybe"), "invalid value for ro: maybe");
        assert_eq!(err("type=secret"), "invalid secret mount. one of source, target required");
        assert_eq!(err("type=secret,id=a,source=b"), "both source and id can't be set");
        assert_eq!(err("type=secret,id=a,from=x"), "secret mount should not have a from");
        assert_eq!(err("type=cache,target=/x,env=A"), "unexpected key 'env' for mount type 'cache'");
        assert_eq!(err("type=tmpfs,target=/x,size=lots"), "invalid value for size: lots");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert!(parse_size("-1m").is_err());
    }
}
