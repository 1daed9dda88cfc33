//! Sending one API request: authorisation (up front once the scheme is
//! known, else after a 401, retried once), redirects (followed by hand so
//! that `Authorization` only goes to the registry's own origin), and turning
//! transport failures and refusals into errors that name the registry.

use std::io::{self, Read};
use std::time::Duration;

use ureq::http::{Request, Response};
use ureq::{Agent, Body, SendBody};

use super::auth::{self, AuthState, Challenge, Token};
use super::endpoint::{self, Origin};
use super::errors;
use super::RegistryOptions;
use crate::error::{Error, Result};

/// docker's limit.
const MAX_REDIRECTS: usize = 10;
/// Error bodies and token answers are small; a larger one is not what we
/// asked for.
const MAX_SMALL_BODY: u64 = 1 << 20;

/// What every clone of a client shares.
pub(crate) struct Shared {
    /// As the user wrote it (`docker.io`, `127.0.0.1:5000`): errors name it.
    pub registry: String,
    /// `scheme://host[:port]` of the API.
    pub base: String,
    origin: Origin,
    agent: Agent,
    pub opts: RegistryOptions,
    auth: AuthState,
}

/// A request body. Only a stream cannot be sent twice, so a request with
/// one is not retried after a 401 (uploads authorise before they stream).
pub(crate) enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read),
}

pub(crate) struct Call<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    /// What the request needs a token for (empty for `/v2/`).
    pub scopes: &'a [String],
}

/// The URL without its query, for messages: presigned storage URLs carry
/// their signature there.
pub(crate) fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

pub(crate) fn header<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads a body we do not need, so the connection can be reused.
pub(crate) fn discard(mut resp: Response<Body>) {
    let _ = io::copy(&mut resp.body_mut().with_config().limit(64 << 10).reader(), &mut io::sink());
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

impl Shared {
    pub(crate) fn new(registry: &str, opts: RegistryOptions) -> Result<Shared> {
        let bad = registry.is_empty() || registry.bytes().any(|b| b.is_ascii_whitespace() || b"/?#@\\".contains(&b));
        let scheme = if endpoint::use_plain_http(registry, opts.insecure) { "http" } else { "https" };
        let base = format!("{scheme}://{}", endpoint::api_host(registry));
        let origin = match Origin::of(&format!("{base}/v2/")) {
            Some(o) if !bad => o,
            _ => return Err(Error::Invalid(format!("invalid registry host {registry:?}"))),
        };
        let config = Agent::config_builder()
            // Statuses are answers to interpret, not failures of the transport.
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(opts.user_agent.as_str())
            // Blobs must arrive byte for byte as their digest says.
            .accept_encoding("")
            .timeout_resolve(nonzero(opts.connect_timeout))
            .timeout_connect(nonzero(opts.connect_timeout))
            .timeout_per_read(nonzero(opts.read_timeout))
            .timeout_per_write(nonzero(opts.read_timeout))
            .build();
        Ok(Shared {
            registry: registry.to_string(),
            base,
            origin,
            agent: config.new_agent(),
            opts,
            auth: AuthState::default(),
        })
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        Error::Registry { registry: self.registry.clone(), message: message.into() }
    }

    /// Sends a request, authorising it as the registry requires.
    pub(crate) fn call(&self, call: &Call, mut payload: Payload) -> Result<Response<Body>> {
        let mut authorization = match self.auth.challenge() {
            Some(ch) => self.authorization(&ch, call.scopes, true)?,
            None => None,
        };
        let mut retried = false;
        loop {
            let replayable = !matches!(payload, Payload::Stream(_));
            let resp = self.send(call, authorization.as_deref(), &mut payload)?;
            if resp.status().as_u16() != 401 || retried || !replayable {
                return Ok(resp);
            }
            let challenges: Vec<Challenge> = resp
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(auth::parse_challenges)
                .collect();
            let Some(challenge) = auth::pick_challenge(&challenges) else { return Ok(resp) };
            self.auth.learn(&challenge);
            // A cached token that got a 401 is stale (revoked, or the
            // registry wants more scope): fetch a fresh one.
            let Some(fresh) = self.authorization(&challenge, call.scopes, false)? else { return Ok(resp) };
            discard(resp);
            authorization = Some(fresh);
            retried = true;
        }
    }

    /// The `Authorization` value answering `challenge` for `scopes`; None
    /// when there is nothing to answer with (Basic without credentials).
    fn authorization(&self, challenge: &Challenge, scopes: &[String], cached: bool) -> Result<Option<String>> {
        match challenge.scheme.as_str() {
            "basic" => Ok(self.opts.credentials.as_ref().map(|c| c.basic_authorization())),
            "bearer" => {
                if cached {
                    if let Some(t) = self.auth.token(scopes) {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let token = self.fetch_token(challenge, scopes)?;
                self.auth.remember(scopes, &token);
                Ok(Some(format!("Bearer {}", token.token)))
            }
            _ => Ok(None),
        }
    }

    /// Asks the challenge's realm for a token: GET with basic credentials
    /// (or none, for an anonymous token), or with an identity token the
    /// OAuth2 refresh-token POST, as docker does.
    fn fetch_token(&self, challenge: &Challenge, scopes: &[String]) -> Result<Token> {
        let realm = challenge.param("realm").unwrap_or("");
        let Some(realm_origin) = Origin::of(realm) else {
            return Err(self.error(format!("the registry's token realm {realm:?} is not an http(s) URL")));
        };
        let creds = self.opts.credentials.as_ref();
        // Never let a registry reached over https send the password in clear.
        if creds.is_some() && realm_origin.scheme == "http" && self.origin.scheme == "https" {
            return Err(
                self.error(format!("refusing to send credentials to the plain-HTTP token realm {}", shown(realm)))
            );
        }
        let scopes = auth::token_scopes(scopes, challenge);
        let service = challenge.param("service");
        let identity = creds.and_then(|c| c.as_identity_token());
        let method = if identity.is_some() { "POST" } else { "GET" };
        let sent = match identity {
            Some(refresh) => {
                let form = auth::token_form(service, &scopes, refresh, "berth");
                Request::builder()
                    .method("POST")
                    .uri(realm)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .map(|r| self.agent.run(r))
            }
            None => {
                let query = auth::token_query(service, &scopes, creds.map(|c| c.username.as_str()));
                let url = match (query.is_empty(), realm.contains('?')) {
                    (true, _) => realm.to_string(),
                    (false, true) => format!("{realm}&{query}"),
                    (false, false) => format!("{realm}?{query}"),
                };
                let mut b = Request::builder().method("GET").uri(url.as_str());
                if let Some(c) = creds {
                    b = b.header("authorization", c.basic_authorization());
                }
                b.body(()).map(|r| self.agent.run(r))
            }
        };
        let mut resp = sent
            .map_err(|e| self.error(format!("invalid token realm {}: {e}", shown(realm))))?
            .map_err(|e| self.transport_error(e, method, realm))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(MAX_SMALL_BODY).read_to_vec();
        let body = body.map_err(|e| self.transport_error(e, method, realm))?;
        let said = errors::describe_error_body(&body).map_or(String::new(), |s| format!(": {s}"));
        match status {
            200 => auth::parse_token_response(&body)
                .map_err(|why| self.error(format!("token server {}: {why}", shown(realm)))),
            401 | 403 if creds.is_some() => Err(self.error(format!(
                "unauthorized: incorrect username or password (the token server {} refused them){said}",
                shown(realm)
            ))),
            401 | 403 => Err(self.error(format!(
                "unauthorized: authentication required (the token server {} gives no anonymous access){said}",
                shown(realm)
            ))),
            _ => Err(self.error(format!("token server {} answered {status}{said}", shown(realm)))),
        }
    }

    /// One request, following redirects of GET and HEAD (registries send
    /// blob downloads to storage). Authorization is attached only while the
    /// URL is on the registry's own origin: docker's rule, so a presigned
    /// storage URL (or anyone the registry points at) never sees it.
    fn send(&self, call: &Call, authorization: Option<&str>, payload: &mut Payload) -> Result<Response<Body>> {
        let follow = matches!(call.method, "GET" | "HEAD");
        let mut url = call.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut b = Request::builder().method(call.method).uri(url.as_str());
            for (name, value) in &call.headers {
                b = b.header(*name, value.as_str());
            }
            if let Some(a) = authorization.filter(|_| Origin::of(&url).as_ref() == Some(&self.origin)) {
                b = b.header("authorization", a);
            }
            let sent = match payload {
                Payload::Empty => b.body(()).map(|r| self.agent.run(r)),
                Payload::Bytes(bytes) => b.body(*bytes).map(|r| self.agent.run(r)),
                Payload::Stream(reader) => b.body(SendBody::from_reader(&mut **reader)).map(|r| self.agent.run(r)),
            };
            let resp = sent
                .map_err(|e| self.error(format!("invalid request {} {}: {e}", call.method, shown(&url))))?
                .map_err(|e| self.transport_error(e, call.method, &url))?;
            let status = resp.status().as_u16();
            if follow && matches!(status, 301 | 302 | 303 | 307 | 308) {
                if let Some(location) = header(&resp, "location") {
                    let next = endpoint::resolve(&url, location);
                    if Origin::of(&next).is_none() {
                        return Err(self.error(format!(
                            "{} {} redirected to an unusable URL {}",
                            call.method,
                            shown(&url),
                            shown(&next)
                        )));
                    }
                    discard(resp);
                    url = next;
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(self.error(format!("more than {MAX_REDIRECTS} redirects ({} {})", call.method, shown(&call.url))))
    }

    /// A transport failure as the user should read it: what timed out or
    /// could not connect, and where.
    pub(crate) fn transport_error(&self, e: ureq::Error, method: &str, url: &str) -> Error {
        self.error(describe_transport_error(&e, &self.opts, method, url))
    }

    /// The error for a response we cannot use, with the registry's own
    /// explanation from its body.
    pub(crate) fn status_error(&self, mut resp: Response<Body>, method: &str, url: &str) -> Error {
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(64 << 10).read_to_vec().unwrap_or_default();
        self.error(errors::status_message(status, &format!("{method} {}", shown(url)), &body))
    }
}

pub(crate) fn describe_transport_error(e: &ureq::Error, opts: &RegistryOptions, method: &str, url: &str) -> String {
    use ureq::Timeout as T;
    let request = format!("{method} {}", shown(url));
    match e {
        ureq::Error::Timeout(T::Connect | T::Resolve) => {
            format!("timed out after {:?} connecting ({request})", opts.connect_timeout)
        }
        ureq::Error::Timeout(T::PerWrite | T::SendRequest | T::SendBody) => {
            format!("timed out after {:?} sending to the registry ({request})", opts.read_timeout)
        }
        ureq::Error::Timeout(_) => {
            format!("timed out after {:?} waiting for the registry to answer ({request})", opts.read_timeout)
        }
        ureq::Error::HostNotFound => format!("cannot resolve the host of {}", shown(url)),
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            format!("connection refused ({request}): is the registry running?")
        }
        ureq::Error::Io(io) => format!("{request}: {io}"),
        other => format!("{request}: {other}"),
    }
}

/// A streamed response body whose read errors say what was being read from
/// which registry, and why (a timeout reads as one, not as "other").
pub(crate) struct BodyStream {
    inner: ureq::BodyReader<'static>,
    context: String,
    read_timeout: Duration,
}

impl BodyStream {
    pub(crate) fn new(resp: Response<Body>, context: String, read_timeout: Duration) -> BodyStream {
        BodyStream { inner: resp.into_body().into_reader(), context, read_timeout }
    }
}

impl Read for BodyStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let (kind, why) = match e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()) {
                Some(ureq::Error::Timeout(_)) => {
                    (io::ErrorKind::TimedOut, format!("timed out after {:?} waiting for data", self.read_timeout))
                }
                Some(u) => (e.kind(), u.to_string()),
                None => (e.kind(), e.to_string()),
            };
            io::Error::new(kind, format!("{}: {why}", self.context))
        })
    }
}
