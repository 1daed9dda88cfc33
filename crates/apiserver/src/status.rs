//! Errors as the API's `Status` objects: the reason and code kubectl and
//! client libraries act on, and a message naming what is wrong.

use hyper::StatusCode;
use serde_json::{json, Value};

/// A failed request, as the `Status` object the response carries. Clients
/// branch on `reason` (and `code`), not on the message, so the constructors
/// below keep Kubernetes' pairs of the two.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status of the response, also the Status's `code`.
    pub code: StatusCode,
    /// The Status's `reason` (metav1.StatusReason: `NotFound`, `Conflict`,
    /// …), what client-go's `errors.Is*` test.
    pub reason: &'static str,
    /// The human-readable `message`, which kubectl prints as the error.
    pub message: String,
    /// The Status's `details` (name, kind, causes), or null for none.
    pub details: Value,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: Value::Null }
    }

    /// The same error with `details` replaced by `d` (a StatusDetails
    /// object).
    pub fn with_details(mut self, d: Value) -> ApiError {
        self.details = d;
        self
    }

    /// 404 NotFound of the object `name` of resource `plural`.
    pub fn not_found(plural: &str, name: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", format!("{plural} \"{name}\" not found"))
            .with_details(json!({"name": name, "kind": plural}))
    }

    /// 409 AlreadyExists: a create of a name that is taken.
    pub fn already_exists(plural: &str, name: &str) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "AlreadyExists", format!("{plural} \"{name}\" already exists"))
            .with_details(json!({"name": name, "kind": plural}))
    }

    /// 409 Conflict: a write at a stale resourceVersion (or a failed
    /// precondition); the client should read the object again and retry,
    /// as the message says in Kubernetes' words, which tools match.
    pub fn conflict(plural: &str, name: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(json!({"name": name, "kind": plural}))
    }

    /// 409 of a server-side apply that would change fields other
    /// managers own.
    pub fn apply_conflict(conflicts: &[crate::managed::Conflict]) -> ApiError {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                let message = match c.api_version.as_str() {
                    "" => format!("conflict with {:?}", c.manager),
                    v => format!("conflict with {:?} using {v}", c.manager),
                };
                json!({"reason": "FieldManagerConflict", "field": c.field, "message": message})
            })
            .collect();
        ApiError::new(StatusCode::CONFLICT, "Conflict", crate::managed::conflict_message(conflicts))
            .with_details(json!({ "causes": causes }))
    }

    /// 400 BadRequest: the request itself is malformed (a body, a query
    /// parameter, an unknown field under Strict validation).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 422: the object is not valid; `causes` name the fields.
    pub fn invalid(kind: &str, name: &str, causes: Vec<(String, String)>) -> ApiError {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(field, message)| json!({"reason": "FieldValueInvalid", "message": message, "field": field}))
            .collect();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {}", text.join(", ")),
        )
        .with_details(json!({"name": name, "kind": kind, "causes": causes}))
    }

    /// 401 Unauthorized: no bearer token, or not the right one.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden: a request that is understood but not allowed (a
    /// write to a terminating namespace, say).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 405 MethodNotAllowed: a verb the resource or subresource does not
    /// serve.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType: a body in a format other than those the
    /// message lists; `ct` is the Content-Type given.
    pub fn unsupported_media_type(ct: &str) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json, application/apply-patch+yaml; got {ct:?}"))
    }

    /// 410 Expired: a resourceVersion or continue token older than the
    /// store keeps; clients answer it with a fresh list (a relist).
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "Expired", message)
    }

    /// 429 TooManyRequests: try again later (an eviction a disruption
    /// budget blocks, for now).
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message)
    }

    /// 503 ServiceUnavailable: what would serve the request is not there
    /// (the node agent of a pod's node, not connected).
    pub fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message)
    }

    /// 413 RequestEntityTooLarge: a body or object over the server's
    /// limits.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", message)
    }

    /// 500 InternalError: the server (or its store) failed, not the
    /// request.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// 404 NotFound of a path that names no resource at all, with the
    /// message Kubernetes gives (no details: there is no object).
    pub fn page_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource")
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if !self.details.is_null() {
            v["details"] = self.details.clone();
        }
        v
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> ApiError {
        match e {
            store::Error::Compacted { .. } => ApiError::gone("too old resource version"),
            store::Error::FutureRevision { requested, .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "Timeout",
                format!("Too large resource version: {requested}"),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// A result whose error becomes the response's `Status`.
pub type ApiResult<T> = Result<T, ApiError>;
