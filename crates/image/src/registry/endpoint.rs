//! Where a registry's API is and how to address it: docker.io's real host,
//! when plain HTTP is used, origins (which decide where credentials may go),
//! and the few URL operations the client needs.

use std::net::IpAddr;

/// The name docker (and [`crate::Reference`]) gives Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API is actually served.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The names Docker Hub goes by, in references and in credentials files.
fn is_docker_hub(host: &str) -> bool {
    matches!(host.to_ascii_lowercase().as_str(), "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// The host the registry API lives on, for a registry as written in a
/// reference: `docker.io` is served from `registry-1.docker.io`.
pub fn api_host(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// `docker.io` for every Docker Hub alias, else the host lowercased: two
/// registry names are the same registry when these are equal.
pub fn canonical_registry(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB.to_string()
    } else {
        registry.to_ascii_lowercase()
    }
}

/// The host part of `host[:port]`, `[v6]:port` or a bare IPv6 address,
/// without brackets.
pub fn host_without_port(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(h, _)| h);
    }
    match registry.split_once(':') {
        // More than one colon without brackets is a bare IPv6 address.
        Some((h, port)) if !port.contains(':') => h,
        _ => registry,
    }
}

/// Whether the registry is on this machine: localhost, 127.0.0.0/8 or ::1.
pub fn is_loopback(registry: &str) -> bool {
    let host = host_without_port(registry);
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Plain HTTP for loopback registries (a local registry rarely has a
/// certificate, and traffic never leaves the machine), or when the user said
/// the registry is insecure; https for everything else.
pub fn use_plain_http(registry: &str, insecure: bool) -> bool {
    insecure || is_loopback(registry)
}

/// scheme, host and port: requests may carry the registry's credentials
/// only to its own origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`, lowercased.
    pub scheme: String,
    /// The host, lowercased.
    pub host: String,
    /// The port, the scheme's default filled in (80, 443), so `h` and `h:443`
    /// are one origin.
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute http(s) URL; None for anything else.
    pub fn of(url: &str) -> Option<Origin> {
        let uri: ureq::http::Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host()?.to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        Some(Origin { port: uri.port_u16().unwrap_or(default_port), scheme, host })
    }
}

/// `scheme://authority` of an absolute URL (everything before the path).
fn prefix(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// Resolves a `Location` header against the URL that returned it: absolute,
/// scheme-relative, absolute-path and relative-path forms all occur (blob
/// redirects are usually absolute, upload locations usually `/v2/...`).
pub fn resolve(base: &str, location: &str) -> String {
    let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return location.to_string();
    }
    if location.starts_with("//") {
        let scheme = base.split_once("://").map_or("https", |(s, _)| s);
        return format!("{scheme}:{location}");
    }
    if location.starts_with('/') {
        return format!("{}{location}", prefix(base));
    }
    let path_end = base.find(['?', '#']).unwrap_or(base.len());
    let dir_end = base[..path_end].rfind('/').filter(|&i| i >= prefix(base).len()).map_or(path_end, |i| i + 1);
    let dir = &base[..dir_end];
    if dir.ends_with('/') {
        format!("{dir}{location}")
    } else {
        format!("{dir}/{location}")
    }
}

/// Appends `key=value` to a URL's query, which may already exist (upload
/// locations carry the registry's own state parameters).
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}={}", percent_encode(key), percent_encode(value))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for
/// query values and form bodies (scopes contain ':' and ',').
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_served_from_registry_1() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("ghcr.io"), "ghcr.io");
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(canonical_registry("Index.Docker.IO"), "docker.io");
        assert_eq!(canonical_registry("Quay.io"), "quay.io");
    }

    #[test]
    fn plain_http_only_for_loopback_or_insecure() {
        for local in [
            "localhost",
            "localhost:5000",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.3.4.5:80",
            "[::1]:5000",
            "::1",
            "[::1]",
        ] {
            assert!(use_plain_http(local, false), "{local}");
        }
        for remote in [
            "docker.io",
            "ghcr.io",
            "10.0.0.1:5000",
            "128.0.0.1",
            "[::2]:5000",
            "localhost.example.com",
            "my-localhost",
        ] {
            assert!(!use_plain_http(remote, false), "{remote}");
            assert!(use_plain_http(remote, true), "{remote}");
        }
    }

    #[test]
    fn hosts_lose_ports_and_brackets() {
        assert_eq!(host_without_port("a.b:5000"), "a.b");
        assert_eq!(host_without_port("[::1]:5000"), "::1");
        assert_eq!(host_without_port("fe80::1"), "fe80::1");
        assert_eq!(host_without_port("a.b"), "a.b");
    }

    #[test]
    fn origins_include_the_default_port() {
        let o = Origin::of("https://Registry.Example.com/v2/").unwrap();
        assert_eq!(o, Origin { scheme: "https".into(), host: "registry.example.com".into(), port: 443 });
        assert_eq!(Origin::of("http://127.0.0.1:5000/x").unwrap().port, 5000);
        assert_ne!(Origin::of("http://h:80/"), Origin::of("https://h:80/"));
        assert_eq!(Origin::of("http://h/"), Origin::of("http://h:80/a?b"));
        assert_eq!(Origin::of("ftp://h/"), None);
        assert_eq!(Origin::of("/v2/"), None);
    }

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = "http://127.0.0.1:5000/v2/app/blobs/uploads/?a=b";
        assert_eq!(resolve(base, "https://s3.example.com/x?sig=1"), "https://s3.example.com/x?sig=1");
        assert_eq!(resolve(base, "//cdn.example.com/y"), "http://cdn.example.com/y");
        assert_eq!(
            resolve(base, "/v2/app/blobs/uploads/u1?_state=z"),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/u1?_state=z"
        );
        assert_eq!(resolve(base, "u2"), "http://127.0.0.1:5000/v2/app/blobs/uploads/u2");
        assert_eq!(resolve("http://h", "u3"), "http://h/u3");
        assert_eq!(resolve("http://h/a/b", "c"), "http://h/a/c");
    }

    #[test]
    fn query_values_are_encoded_and_appended() {
        assert_eq!(with_query("http://h/u", "digest", "sha256:ab"), "http://h/u?digest=sha256%3Aab");
        assert_eq!(with_query("http://h/u?_state=x", "digest", "d"), "http://h/u?_state=x&digest=d");
        assert_eq!(percent_encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
    }
}
