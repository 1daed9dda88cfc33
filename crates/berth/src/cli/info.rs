//! `berth version` and `berth info`: the engine's facts in docker's layout.
//! berth is daemonless, so "client" and "server" are the same program; both
//! sections are printed because scripts read `{{.Server.Version}}`.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use super::container::open_engine;

#[derive(Args, Debug)]
pub struct FormatArg {
    /// Format the output: "json", or a Go template such as '{{.Server.Version}}'.
    #[arg(short, long)]
    format: Option<String>,
}

fn version_doc() -> Value {
    let v = engine::system::Version::current();
    json!({
        "Client": {
            "Version": v.version, "ApiVersion": dockerapi::API_VERSION,
            "DefaultAPIVersion": dockerapi::API_VERSION, "GitCommit": "", "GoVersion": "",
            "Os": v.os, "Arch": v.arch, "BuildTime": "", "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": v.version,
                            "Details": {"ApiVersion": dockerapi::API_VERSION,
                                        "MinAPIVersion": dockerapi::MIN_API_VERSION}}],
            "Version": v.version, "ApiVersion": dockerapi::API_VERSION,
            "MinAPIVersion": dockerapi::MIN_API_VERSION, "GitCommit": "", "GoVersion": "",
            "Os": v.os, "Arch": v.arch, "KernelVersion": v.kernel_version, "BuildTime": "",
        },
    })
}

pub fn version(a: FormatArg) -> Result<u8> {
    let doc = version_doc();
    match a.format.as_deref() {
        Some(f) => println!("{}", render(f, &doc)?),
        None => print!("{}", version_text(&doc)),
    }
    Ok(0)
}

fn version_text(d: &Value) -> String {
    let (c, s) = (&d["Client"], &d["Server"]);
    let os_arch = |v: &Value| format!("{}/{}", str_of(&v["Os"]), str_of(&v["Arch"]));
    format!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}\n \
         Context:           default\n\nServer: berth\n Engine:\n  Version:          {}\n  API version:      {} \
         (minimum version {})\n  OS/Arch:          {}\n  Experimental:     false\n",
        str_of(&c["Version"]),
        str_of(&c["ApiVersion"]),
        os_arch(c),
        str_of(&s["Version"]),
        str_of(&s["ApiVersion"]),
        str_of(&s["MinAPIVersion"]),
        os_arch(s),
    )
}

pub fn info(root: &Path, a: FormatArg) -> Result<u8> {
    let e = open_engine(root)?;
    let exe = std::env::current_exe().unwrap_or_else(|_| "berth".into());
    let info = e.info(&exe)?;
    let mut doc = serde_json::to_value(&info)?;
    doc["ClientInfo"] = json!({"Version": env!("CARGO_PKG_VERSION"), "Context": "default", "Debug": false});
    match a.format.as_deref() {
        Some(f) => println!("{}", render(f, &doc)?),
        None => {
            print!("{}", info_text(&info));
            for w in &info.warnings {
                eprintln!("{w}");
            }
        }
    }
    Ok(0)
}

fn info_text(i: &engine::system::Info) -> String {
    let mut out = format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    );
    line(&mut out, 1, "Containers", &i.containers);
    line(&mut out, 2, "Running", &i.containers_running);
    line(&mut out, 2, "Paused", &i.containers_paused);
    line(&mut out, 2, "Stopped", &i.containers_stopped);
    line(&mut out, 1, "Images", &i.images);
    line(&mut out, 1, "Server Version", &i.server_version);
    line(&mut out, 1, "Storage Driver", &i.driver);
    for [k, v] in &i.driver_status {
        line(&mut out, 2, k, v);
    }
    line(&mut out, 1, "Logging Driver", &i.logging_driver);
    line(&mut out, 1, "Cgroup Driver", &i.cgroup_driver);
    line(&mut out, 1, "Cgroup Version", &i.cgroup_version);
    line(&mut out, 1, "Runtimes", &i.runtimes.keys().cloned().collect::<Vec<_>>().join(" "));
    line(&mut out, 1, "Default Runtime", &i.default_runtime);
    out.push_str(" Security Options:\n");
    for opt in &i.security_options {
        // docker prints "name=seccomp,profile=builtin" as a name and its
        // settings below it.
        let mut parts = opt.split(',');
        let name = parts.next().unwrap_or_default().trim_start_matches("name=");
        out.push_str(&format!("  {name}\n"));
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let mut k = k.to_string();
                if let Some(first) = k.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                line(&mut out, 3, &k, &v);
            }
        }
    }
    line(&mut out, 1, "Kernel Version", &i.kernel_version);
    line(&mut out, 1, "Operating System", &i.operating_system);
    line(&mut out, 1, "OSType", &i.os_type);
    line(&mut out, 1, "Architecture", &i.architecture);
    line(&mut out, 1, "CPUs", &i.ncpu);
    line(&mut out, 1, "Total Memory", &binary_size(i.mem_total));
    line(&mut out, 1, "Name", &i.name);
    line(&mut out, 1, "ID", &i.id);
    line(&mut out, 1, "Docker Root Dir", &i.root_dir);
    line(&mut out, 1, "Debug Mode", &false);
    line(&mut out, 1, "IPv4 Forwarding", &i.ipv4_forwarding);
    out
}

/// One `Key: value` line of `info`, indented as docker's.
fn line(out: &mut String, indent: usize, k: &str, v: &dyn std::fmt::Display) {
    out.push_str(&format!("{:indent$}{k}: {v}\n", "", indent = indent));
}

/// docker's `units.BytesSize`: binary units with two decimals ("23.45GiB").
fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let s = format!("{v:.2}");
    format!("{}{}", s.trim_end_matches('0').trim_end_matches('.'), units[u])
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `json` is docker's shorthand for the whole document on one line.
fn render(format: &str, doc: &Value) -> Result<String> {
    if format.trim() == "json" {
        return Ok(serde_json::to_string(doc)?);
    }
    super::template::render(format, doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_answers_dockers_templates() {
        let doc = version_doc();
        assert_eq!(render("{{.Server.Version}}", &doc).unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(render("{{.Client.ApiVersion}}", &doc).unwrap(), dockerapi::API_VERSION);
        let line = render("json", &doc).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), doc);
        let text = version_text(&doc);
        assert!(text.starts_with("Client:\n Version:"), "{text}");
        assert!(text.contains(&format!("(minimum version {})", dockerapi::MIN_API_VERSION)), "{text}");
    }

    #[test]
    fn sizes_are_binary_with_two_decimals() {
        assert_eq!(binary_size(25_179_607_040), "23.45GiB");
        assert_eq!(binary_size(1024), "1KiB");
        assert_eq!(binary_size(512), "512B");
    }
}
