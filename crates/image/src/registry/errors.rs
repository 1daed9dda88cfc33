//! Turning a registry's refusal into the message a user sees: the
//! distribution spec's error body (`{"errors":[{"code","message","detail"}]}`)
//! rendered the way docker renders it (`manifest unknown: manifest unknown`),
//! prefixed with what the status means.

/// The registry's own explanation, if its body has one: each error as its
/// code in words and its message, joined with "; ". A plain-text body (a
/// proxy's complaint) is used as it is, HTML is not.
pub fn describe_error_body(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
        detail: Option<serde_json::Value>,
    }
    if let Ok(b) = serde_json::from_slice::<Body>(body) {
        let parts: Vec<String> = b
            .errors
            .iter()
            .filter_map(|e| {
                let code = e.code.as_deref().map(|c| c.replace('_', " ").to_lowercase()).filter(|c| !c.is_empty());
                let message = e.message.as_deref().map(str::trim).filter(|m| !m.is_empty());
                let mut s = match (code, message) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c,
                    (None, Some(m)) => m.to_string(),
                    (None, None) => return None,
                };
                // A string detail says something useful (which digest did not
                // match); structured ones echo the request back.
                if let Some(serde_json::Value::String(d)) = &e.detail {
                    if !d.trim().is_empty() {
                        s.push_str(&format!(" ({})", short(d.trim())));
                    }
                }
                Some(s)
            })
            .collect();
        return (!parts.is_empty()).then(|| parts.join("; "));
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.starts_with('<') || text.starts_with('{') {
        return None;
    }
    Some(short(text.lines().next().unwrap_or(text)).to_string())
}

/// At most 300 characters of text from the network, so a wrong endpoint
/// that returns a page cannot flood the terminal.
fn short(s: &str) -> &str {
    match s.char_indices().nth(300) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The message for a failed request: what the status means, the request
/// where that helps, and the registry's own words. `request` is
/// `METHOD /path` and is shown for statuses whose cause is not obvious.
pub fn status_message(status: u16, request: &str, body: &[u8]) -> String {
    let said = describe_error_body(body);
    let with = |lead: String| match &said {
        Some(s) if *s != lead && !lead.ends_with(s.as_str()) => format!("{lead}: {s}"),
        _ => lead,
    };
    let reason = ureq::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    match status {
        401 => with("unauthorized: authentication required".to_string()),
        403 => match said {
            Some(s) if s.starts_with("denied") => s,
            Some(s) => format!("denied: {s}"),
            None => "denied: requested access to the resource is denied".to_string(),
        },
        404 => with(format!("not found ({request})")),
        429 => with("too many requests: the registry is rate-limiting this client".to_string()),
        500..=599 => with(format!("the registry failed with {status} {reason} ({request})")),
        // The registry's words say it best (digest invalid, blob unknown…);
        // the status and request say where.
        _ => match said {
            Some(s) => format!("{s} ({status} {reason} on {request})"),
            None => format!("unexpected {status} {reason} ({request})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_error_bodies() {
        let b = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        assert_eq!(describe_error_body(b).as_deref(), Some("manifest unknown: manifest unknown"));
        let b = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content","detail":"sha256:12 != sha256:34"},
                    {"code":"SIZE_INVALID"}, {"message":"  free text  "}, {}]}"#;
        assert_eq!(
            describe_error_body(b).as_deref(),
            Some("digest invalid: provided digest did not match uploaded content (sha256:12 != sha256:34); size invalid; free text")
        );
        assert_eq!(describe_error_body(br#"{"errors":[]}"#), None);
        assert_eq!(describe_error_body(br#"{"other":1}"#), None);
    }

    #[test]
    fn other_bodies() {
        assert_eq!(describe_error_body(b"upstream connect error\nmore").as_deref(), Some("upstream connect error"));
        assert_eq!(describe_error_body(b"<html><body>502</body></html>"), None);
        assert_eq!(describe_error_body(b""), None);
        assert_eq!(describe_error_body(&[0xff, 0xfe]), None);
        assert_eq!(describe_error_body("x".repeat(1000).as_bytes()).unwrap().len(), 300);
    }

    #[test]
    fn statuses() {
        let unauthorized = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        assert_eq!(status_message(401, "GET /v2/", unauthorized), "unauthorized: authentication required");
        let denied = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(status_message(403, "PUT /v2/x", denied), "denied: requested access to the resource is denied");
        assert_eq!(status_message(403, "PUT /v2/x", b"forbidden by policy"), "denied: forbidden by policy");
        assert_eq!(
            status_message(401, "GET /v2/", br#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#),
            "unauthorized: authentication required: unauthorized: token expired"
        );
        assert_eq!(
            status_message(
                500,
                "GET /v2/a/manifests/b",
                br#"{"errors":[{"code":"UNKNOWN","message":"disk on fire"}]}"#
            ),
            "the registry failed with 500 Internal Server Error (GET /v2/a/manifests/b): unknown: disk on fire"
        );
        assert_eq!(status_message(502, "HEAD /v2/", b""), "the registry failed with 502 Bad Gateway (HEAD /v2/)");
        assert_eq!(status_message(418, "GET /v2/", b""), "unexpected 418 I'm a teapot (GET /v2/)");
        assert_eq!(
            status_message(
                400,
                "PUT /v2/a/manifests/t",
                br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#
            ),
            "manifest invalid: manifest invalid (400 Bad Request on PUT /v2/a/manifests/t)"
        );
    }
}
