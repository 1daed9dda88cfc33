//! HTTP plumbing: response bodies (whole or streamed from a channel),
//! docker's error body, query parameters as the clients send them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Frame};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A response body fed by a channel: the headers go out at once, chunks
/// as they are sent; the body ends when every sender is dropped.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A streamed body and its sender.
pub fn channel() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(64);
    let body = ChannelBody(rx);
    debug_assert!(!body.is_end_stream());
    (tx, body.boxed_unsync())
}

pub fn response(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

pub fn json(status: StatusCode, v: &Value) -> Response<Body> {
    let mut text = v.to_string();
    text.push('\n');
    response(status, "application/json", full(text))
}

pub fn no_content() -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

pub fn status(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// An API error: docker's `{"message": …}` with its status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub fn into_response(self) -> Response<Body> {
        json(self.status, &json!({ "message": self.message }))
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> ApiError {
        use engine::Error as E;
        let status = match &e {
            E::NoSuchContainer(_) | E::NoSuchNetwork(_) | E::NoSuchVolume(_) | E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) | E::NotRunning { .. } => StatusCode::CONFLICT,
            E::Invalid(_) | E::Exec { .. } => StatusCode::BAD_REQUEST,
            E::Image(i) => return ApiError::from_image(i, e.to_string()),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<image::Error> for ApiError {
    fn from(e: image::Error) -> ApiError {
        let text = e.to_string();
        ApiError::from_image(&e, text)
    }
}

impl ApiError {
    fn from_image(e: &image::Error, text: String) -> ApiError {
        match e {
            image::Error::ImageNotFound(name) => ApiError::not_found(format!("No such image: {name}")),
            image::Error::Conflict(_) => ApiError::conflict(text),
            image::Error::Reference(_) | image::Error::Invalid(_) => ApiError::bad_request(text),
            image::Error::Registry { message, .. } if message.contains("not found") => ApiError::not_found(text),
            _ => ApiError::internal(text),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The query string as a list (names may repeat: `t=a&t=b`).
#[derive(Clone, Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }

    /// The first value of a repeated name counts, as with Go's
    /// `url.Values.Get` in dockerd (docker-py sends `dockerfile` twice).
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect()
    }

    /// Booleans arrive as 1/0, true/false and Python's True/False.
    pub fn bool(&self, k: &str) -> ApiResult<bool> {
        match self.get(k) {
            None | Some("") => Ok(false),
            Some("1" | "true" | "True" | "TRUE") => Ok(true),
            Some("0" | "false" | "False" | "FALSE") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!("invalid value for {k}: {v:?} is not a boolean"))),
        }
    }

    pub fn bool_or(&self, k: &str, default: bool) -> ApiResult<bool> {
        if self.get(k).is_none() {
            Ok(default)
        } else {
            self.bool(k)
        }
    }

    pub fn int<T: std::str::FromStr>(&self, k: &str) -> ApiResult<Option<T>> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?} is not a number"))),
        }
    }

    /// `filters`: URL-encoded JSON, `{"key":{"value":true}}` (the CLI) or
    /// `{"key":["value"]}` (docker-py).
    pub fn filters(&self) -> ApiResult<Filters> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else { return Ok(Filters::default()) };
        let v: Value =
            serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid filters {raw:?}: {e}")))?;
        let Some(obj) = v.as_object() else {
            return Err(ApiError::bad_request(format!("invalid filters {raw:?}: not an object")));
        };
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                Value::Object(m) => {
                    m.iter().filter(|(_, on)| on.as_bool() != Some(false)).map(|(x, _)| x.clone()).collect()
                }
                Value::Array(a) => {
                    a.iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect()
                }
                Value::String(s) => vec![s.clone()],
                _ => return Err(ApiError::bad_request(format!("invalid filter {k:?} in {raw:?}"))),
            };
            out.insert(k.clone(), list);
        }
        Ok(Filters(out))
    }
}

#[derive(Clone, Debug, Default)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    pub fn get(&self, k: &str) -> &[String] {
        self.0.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Refuses filter names the endpoint does not know, as dockerd does.
    pub fn only(&self, known: &[&str]) -> ApiResult<()> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// Labels: every `key` or `key=value` given must match, and none of
    /// the `label!=` ones (prune's negation).
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        let has = |l: &String| match l.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(l.as_str()),
        };
        self.get("label").iter().all(has) && !self.get("label!").iter().any(has)
    }
}

/// Parses a JSON request body into `T`, naming the field that is wrong.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let text = if body.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { body };
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("invalid JSON: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON at {path}: {inner}"))
        }
    })
}

/// One JSON object of a progress stream, newline-terminated.
pub fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push_str("\r\n");
    Bytes::from(s)
}

/// An error inside a JSON stream: both keys, since the CLI reads only
/// `errorDetail` and docker-py only `error`.
pub fn stream_error(message: &str) -> Bytes {
    line(&json!({ "errorDetail": { "message": message }, "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_every_spelling() {
        let q = Query::parse(Some("a=1&b=True&c=false&d=0&e=maybe"));
        assert!(q.bool("a").unwrap() && q.bool("b").unwrap());
        assert!(!q.bool("c").unwrap() && !q.bool("d").unwrap() && !q.bool("missing").unwrap());
        assert!(q.bool("e").unwrap_err().message.contains("e"));
    }

    #[test]
    fn filters_in_both_client_forms() {
        let cli = Query::parse(Some("filters=%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D"));
        assert_eq!(cli.filters().unwrap().get("status"), ["running"]);
        let py = Query::parse(Some("filters=%7B%22status%22%3A+%5B%22exited%22%5D%7D"));
        assert_eq!(py.filters().unwrap().get("status"), ["exited"]);
        assert!(Query::parse(Some("filters=%7Bnope")).filters().is_err());
        assert!(cli.filters().unwrap().only(&["name"]).unwrap_err().message.contains("status"));
    }

    #[test]
    fn repeated_names_keep_every_value() {
        let q = Query::parse(Some("t=a%3A1&t=b"));
        assert_eq!(q.all("t"), ["a:1", "b"]);
    }

    #[test]
    fn body_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            #[serde(rename = "Tty")]
            tty: Option<bool>,
        }
        let e = parse_body::<B>(br#"{"Tty": "yes"}"#).unwrap_err();
        assert!(e.message.contains("Tty"), "{}", e.message);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse_body::<B>(b"{nope").unwrap_err().message.starts_with("invalid JSON"));
        assert!(parse_body::<B>(b"").is_ok());
    }
}
