//! Authentication state and the pure parts of docker's token protocol:
//! `WWW-Authenticate` challenges, scopes, token responses and the cache of
//! tokens. Fetching a token is a request, so it lives with the transport.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One challenge of a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased: `basic`, `bearer`.
    pub scheme: String,
    /// Parameter names lowercased, values unquoted.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parameter `name` (lowercase: `realm`, `service`, `scope`), if the
    /// challenge has it.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The challenge without what only concerns the request that received
    /// it (its scope, its error), so it can authorise later requests.
    pub fn general(&self) -> Challenge {
        let mut c = self.clone();
        c.params.remove("scope");
        c.params.remove("error");
        c.params.remove("error_description");
        c
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1): one or more
/// challenges separated by commas, each a scheme and `name=value` or
/// `name="quoted, \"escaped\" value"` parameters also separated by commas,
/// which is why a plain split on ',' does not work. Unparseable parts are
/// skipped rather than failing: the header comes from the network.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let b = header.as_bytes();
    let mut i = 0;
    let token = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && is_tchar(b[*i]) {
            *i += 1;
        }
        String::from_utf8_lossy(&b[start..*i]).into_owned()
    };
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let mut out = Vec::new();
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b',') {
            i += 1;
        }
        let scheme = token(&mut i);
        if scheme.is_empty() {
            // Not a token (stray character, token68 padding): step over it.
            i += 1;
            continue;
        }
        let mut challenge = Challenge { scheme: scheme.to_ascii_lowercase(), params: BTreeMap::new() };
        loop {
            skip_ws(&mut i);
            let before = i;
            let name = token(&mut i);
            skip_ws(&mut i);
            if name.is_empty() || i >= b.len() || b[i] != b'=' {
                // A scheme name: the next challenge starts here.
                i = before;
                break;
            }
            i += 1;
            skip_ws(&mut i);
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    v.push(b[i]);
                    i += 1;
                }
                i += 1;
                String::from_utf8_lossy(&v).into_owned()
            } else {
                token(&mut i)
            };
            challenge.params.insert(name.to_ascii_lowercase(), value);
            skip_ws(&mut i);
            if i < b.len() && b[i] == b',' {
                i += 1;
            } else {
                break;
            }
        }
        out.push(challenge);
    }
    out
}

/// The challenge to answer: Bearer (with a realm) over Basic, as docker
/// prefers tokens when a registry offers both. Other schemes are not spoken.
pub fn pick_challenge(challenges: &[Challenge]) -> Option<Challenge> {
    challenges
        .iter()
        .find(|c| c.scheme == "bearer" && c.param("realm").is_some_and(|r| !r.is_empty()))
        .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
        .cloned()
}

/// `repository:NAME:pull` or `repository:NAME:pull,push`.
pub fn repository_scope(repo: &str, push: bool) -> String {
    format!("repository:{repo}:{}", if push { "pull,push" } else { "pull" })
}

/// What reading from `repo` needs.
pub fn pull_scopes(repo: &str) -> Vec<String> {
    vec![repository_scope(repo, false)]
}

/// What writing to `repo` needs; a cross-repository mount also needs to read
/// the repository the blob comes from.
pub fn push_scopes(repo: &str, mount_from: Option<&str>) -> Vec<String> {
    let mut s = vec![repository_scope(repo, true)];
    if let Some(from) = mount_from.filter(|f| *f != repo) {
        s.push(repository_scope(from, false));
    }
    s
}

/// The scopes to ask the token server for: the request's own, plus any the
/// registry named in its challenge that we did not think of.
pub fn token_scopes(ours: &[String], challenge: &Challenge) -> Vec<String> {
    let mut all: Vec<String> = ours.to_vec();
    for s in challenge.param("scope").unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !all.iter().any(|a| a == s) {
            all.push(s.to_string());
        }
    }
    all
}

/// The token spec's minimum lifetime, also assumed when `expires_in` is missing.
const MIN_TOKEN_LIFETIME: u64 = 60;

/// A token and how long it is good for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The bearer token, sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// How long it may be reused: `expires_in`, never less than the token
    /// spec's 60 seconds. It is renewed a little before that.
    pub lifetime: Duration,
}

/// Reads a token server's answer: `token`, or OAuth2's `access_token`
/// (the spec allows either), and `expires_in` in seconds.
pub fn parse_token_response(body: &[u8]) -> Result<Token, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let a: Answer =
        serde_json::from_slice(body).map_err(|e| format!("the token server's answer is not valid JSON: {e}"))?;
    let token = a
        .token
        .filter(|t| !t.is_empty())
        .or(a.access_token.filter(|t| !t.is_empty()))
        .ok_or("the token server's answer has no token")?;
    if token.bytes().any(|b| b.is_ascii_control()) {
        return Err("the token server's token contains control characters".into());
    }
    let lifetime = Duration::from_secs(a.expires_in.unwrap_or(MIN_TOKEN_LIFETIME).max(MIN_TOKEN_LIFETIME));
    Ok(Token { token, lifetime })
}

/// The query of a token request (GET realm?service=…&scope=…): one `scope`
/// parameter per scope, as docker sends them. `account` names the user, as
/// docker does, for token servers that use it.
pub fn token_query(service: Option<&str>, scopes: &[String], account: Option<&str>) -> String {
    use super::endpoint::percent_encode as enc;
    let mut parts = Vec::new();
    if let Some(s) = service {
        parts.push(format!("service={}", enc(s)));
    }
    for s in scopes {
        parts.push(format!("scope={}", enc(s)));
    }
    if let Some(a) = account {
        parts.push(format!("account={}", enc(a)));
    }
    parts.join("&")
}

/// The form of an OAuth2 refresh-token request, used with identity tokens.
pub fn token_form(service: Option<&str>, scopes: &[String], refresh_token: &str, client_id: &str) -> String {
    use super::endpoint::percent_encode as enc;
    let mut s = format!("grant_type=refresh_token&refresh_token={}&client_id={}", enc(refresh_token), enc(client_id));
    if let Some(svc) = service {
        s.push_str(&format!("&service={}", enc(svc)));
    }
    // OAuth2 takes scopes space-separated in one parameter.
    if !scopes.is_empty() {
        s.push_str(&format!("&scope={}", enc(&scopes.join(" "))));
    }
    s
}

/// What a client learned about authenticating to its registry, shared by
/// all clones: the last challenge (to authorise up front) and tokens by
/// scope. No lock is held during a request: two threads needing a token for
/// the same scope at once may both fetch one, which is harmless.
#[derive(Default)]
pub(crate) struct AuthState {
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl AuthState {
    pub(crate) fn challenge(&self) -> Option<Challenge> {
        self.challenge.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn learn(&self, c: &Challenge) {
        *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.general());
    }

    /// A token for exactly these scopes that has not expired.
    pub(crate) fn token(&self, scopes: &[String]) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.get(&cache_key(scopes)).filter(|(_, until)| Instant::now() < *until).map(|(t, _)| t.clone())
    }

    pub(crate) fn remember(&self, scopes: &[String], token: &Token) {
        // Renew a little early, so a token does not expire while a request
        // that carries it is on its way.
        let until = Instant::now() + token.lifetime.mul_f64(0.9);
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|_, (_, u)| Instant::now() < *u);
        tokens.insert(cache_key(scopes), (token.token.clone(), until));
    }
}

/// Scopes in any order name the same token.
fn cache_key(scopes: &[String]) -> String {
    let mut s: Vec<&str> = scopes.iter().map(String::as_str).collect();
    s.sort_unstable();
    s.dedup();
    s.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn bearer_challenge_with_commas_inside_quotes() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#;
        let c = parse_challenges(h);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(
            params(&c[0]),
            [
                ("realm", "https://auth.docker.io/token"),
                ("scope", "repository:samalba/my-app:pull,push"),
                ("service", "registry.docker.io")
            ]
        );
    }

    #[test]
    fn several_challenges_spaces_escapes_and_case() {
        let h = r#"Basic realm="Registry Realm", BEARER Realm = "http://a/t?x=1,2" , service=plain,error="insufficient_scope",  Digest realm="a \"quoted\" b", nonce=abc"#;
        let c = parse_challenges(h);
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "digest"]);
        assert_eq!(params(&c[0]), [("realm", "Registry Realm")]);
        assert_eq!(
            params(&c[1]),
            [("error", "insufficient_scope"), ("realm", "http://a/t?x=1,2"), ("service", "plain")]
        );
        assert_eq!(params(&c[2]), [("nonce", "abc"), ("realm", r#"a "quoted" b"#)]);
        assert_eq!(pick_challenge(&c).unwrap().scheme, "bearer");
        assert_eq!(c[1].general().params.len(), 2, "error is dropped from the remembered challenge");
    }

    #[test]
    fn odd_headers_do_not_panic_or_loop() {
        for h in [
            "",
            ",,,",
            "Bearer",
            "Bearer realm=",
            "Bearer realm=\"unterminated",
            "Negotiate abc==",
            "=,=,\"",
            "Basic realm=\"x\",,,Bearer",
        ] {
            let _ = parse_challenges(h);
        }
        let c = parse_challenges("Negotiate abc==, Basic realm=x");
        assert_eq!(
            pick_challenge(&c).unwrap(),
            Challenge { scheme: "basic".into(), params: [("realm".into(), "x".into())].into() }
        );
        assert_eq!(parse_challenges("Bearer")[0].params.len(), 0);
        // A Bearer challenge without a realm cannot be answered.
        assert_eq!(pick_challenge(&parse_challenges("Bearer service=x")), None);
    }

    #[test]
    fn scopes_for_pull_push_and_mount() {
        assert_eq!(pull_scopes("library/busybox"), ["repository:library/busybox:pull"]);
        assert_eq!(push_scopes("team/app", None), ["repository:team/app:pull,push"]);
        assert_eq!(
            push_scopes("team/app", Some("base/img")),
            ["repository:team/app:pull,push", "repository:base/img:pull"]
        );
        assert_eq!(push_scopes("team/app", Some("team/app")), ["repository:team/app:pull,push"]);
        let ch = &parse_challenges(r#"Bearer realm="r",scope="repository:team/app:pull repository:x:pull""#)[0];
        assert_eq!(token_scopes(&pull_scopes("team/app"), ch), ["repository:team/app:pull", "repository:x:pull"]);
    }

    #[test]
    fn token_requests_encode_scopes() {
        let q = token_query(Some("registry.docker.io"), &push_scopes("a/b", Some("c")), Some("alice"));
        assert_eq!(
            q,
            "service=registry.docker.io&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull&account=alice"
        );
        assert_eq!(token_query(None, &[], None), "");
        let f = token_form(Some("s"), &pull_scopes("a"), "rt/1", "berth");
        assert_eq!(
            f,
            "grant_type=refresh_token&refresh_token=rt%2F1&client_id=berth&service=s&scope=repository%3Aa%3Apull"
        );
    }

    #[test]
    fn token_responses() {
        let t =
            parse_token_response(br#"{"token":"abc","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(t, Token { token: "abc".into(), lifetime: Duration::from_secs(300) });
        let t = parse_token_response(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!(t, Token { token: "xyz".into(), lifetime: Duration::from_secs(60) });
        assert_eq!(
            parse_token_response(br#"{"token":"","access_token":"b","expires_in":5}"#).unwrap().lifetime,
            Duration::from_secs(60)
        );
        assert!(parse_token_response(br#"{"token":""}"#).unwrap_err().contains("no token"));
        assert!(parse_token_response(b"<html>").unwrap_err().contains("not valid JSON"));
        assert!(parse_token_response(b"{\"token\":\"a\\nb\"}").is_err());
    }

    #[test]
    fn tokens_are_cached_per_scope_set() {
        let s = AuthState::default();
        let a = vec!["repository:a:pull".to_string(), "repository:b:pull".to_string()];
        let b = vec!["repository:b:pull".to_string(), "repository:a:pull".to_string()];
        assert_eq!(s.token(&a), None);
        s.remember(&a, &Token { token: "t1".into(), lifetime: Duration::from_secs(60) });
        assert_eq!(s.token(&b).as_deref(), Some("t1"));
        assert_eq!(s.token(&pull_scopes("a")), None);
        s.remember(&a, &Token { token: "t0".into(), lifetime: Duration::ZERO });
        assert_eq!(s.token(&a), None, "expired tokens are not used");
    }
}
