//! The server's TLS material, made on first start and kept in the data
//! directory: a cluster CA, a serving certificate it signs (for loopback,
//! the bind address, the host name and the in-cluster names), and the
//! admin token. The kubeconfig written for the admin trusts the CA.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// The PEM texts the server needs to serve HTTPS and to tell clients what
/// to trust, as read back from the data directory.
pub struct Material {
    /// The cluster CA's certificate: what kubeconfigs trust.
    pub ca_pem: String,
    /// The serving certificate, signed by the CA.
    pub cert_pem: String,
    /// The serving certificate's private key (the CA's key stays on disk).
    pub key_pem: String,
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn files(dir: &Path) -> [PathBuf; 4] {
    ["ca.crt", "ca.key", "server.crt", "server.key"].map(|f| dir.join(f))
}

/// Loads the material, making it first when it is missing.
pub fn ensure(dir: &Path, extra_names: &[String]) -> Result<Material, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let [ca_crt, ca_key, srv_crt, srv_key] = files(dir);
    if ![&ca_crt, &ca_key, &srv_crt, &srv_key].iter().all(|p| p.exists()) {
        generate(dir, extra_names)?;
    }
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()));
    Ok(Material { ca_pem: read(&ca_crt)?, cert_pem: read(&srv_crt)?, key_pem: read(&srv_key)? })
}

fn generate(dir: &Path, extra_names: &[String]) -> Result<Material, String> {
    let err = |e: rcgen::Error| format!("making the cluster's certificates: {e}");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.distinguished_name.push(DnType::CommonName, "berth-server-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;

    let mut names: Vec<String> = vec![
        "localhost".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
    ];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(h.trim().to_string());
    }
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params.distinguished_name.push(DnType::CommonName, "berth-server");
    let mut sans = vec![SanType::IpAddress("127.0.0.1".parse().map_err(|_| "bad address".to_string())?)];
    sans.push(SanType::IpAddress(std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)));
    for n in names.iter().chain(extra_names) {
        match n.parse::<std::net::IpAddr>() {
            Ok(ip) => sans.push(SanType::IpAddress(ip)),
            Err(_) if !n.is_empty() => sans.push(SanType::DnsName(n.clone().try_into().map_err(err)?)),
            Err(_) => {}
        }
    }
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
    let m = Material { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() };
    let [ca_crt, ca_key_p, srv_crt, srv_key] = files(dir);
    write_private(&ca_key_p, &ca_key.serialize_pem())?;
    write_private(&srv_key, &m.key_pem)?;
    write_private(&srv_crt, &m.cert_pem)?;
    // Written last: its presence means the set is complete.
    write_private(&ca_crt, &m.ca_pem)?;
    Ok(m)
}

/// The admin's bearer token: given, or made once and kept.
pub fn token(dir: &Path, given: Option<&str>) -> Result<String, String> {
    if let Some(t) = given.filter(|t| !t.is_empty()) {
        return Ok(t.to_string());
    }
    let p = dir.join("token");
    if let Ok(t) = std::fs::read_to_string(&p) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let t = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_private(&p, &t)?;
    Ok(t)
}

/// A kubeconfig with one cluster, user and context, all named `default`,
/// for `server` (an `https://` URL) with bearer `token`, trusting `ca_pem`
/// when given (None: the system's roots), in namespace `default`.
pub fn kubeconfig(server: &str, ca_pem: Option<&str>, token: &str) -> String {
    use base64::Engine as _;
    let ca = match ca_pem {
        Some(pem) => {
            format!("    certificate-authority-data: {}\n", base64::engine::general_purpose::STANDARD.encode(pem))
        }
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n{ca}    server: {server}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  name: default\ncurrent-context: default\npreferences: {{}}\nusers:\n- name: default\n  user:\n    token: {token}\n"
    )
}

/// Writes `text` at `path` with mode 0600 (it holds the token), creating
/// the directory, through a temporary file renamed into place so a reader
/// never sees half of it.
pub fn write_kubeconfig(path: &Path, text: &str) -> Result<(), String> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    write_private(path, text)
}
