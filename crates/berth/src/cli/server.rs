//! `berth server`: the cluster's API server, with k3s's flag names.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Where the server keeps its database, certificates and token.
    #[arg(long, default_value = "/var/lib/berth/server")]
    data_dir: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: String,
    /// The HTTPS port (0: any free port).
    #[arg(long, default_value_t = 6443)]
    https_listen_port: u16,
    /// Also serve plain HTTP on this port (for tests; the token is still required).
    #[arg(long)]
    http_listen_port: Option<u16>,
    /// Write the admin kubeconfig here (default: DATA_DIR/kubeconfig.yaml).
    #[arg(long, visible_alias = "kubeconfig-out")]
    write_kubeconfig: Option<PathBuf>,
    /// An etcd v3 cluster to keep the state in (http://HOST:PORT[,…]); default: embedded SQLite.
    #[arg(long)]
    datastore_endpoint: Option<String>,
    /// The admin's bearer token (default: generated once and kept in DATA_DIR).
    #[arg(long)]
    token: Option<String>,
    /// Run no node agent beside the server.
    #[arg(long)]
    disable_agent: bool,
}

pub fn server(a: ServerArgs) -> Result<u8> {
    if !a.disable_agent {
        eprintln!("berth server: no node agent yet: serving the API only (as with --disable-agent)");
    }
    let cfg = apiserver::Config {
        data_dir: a.data_dir,
        bind_address: a.bind_address,
        https_port: a.https_listen_port,
        http_port: a.http_listen_port,
        write_kubeconfig: a.write_kubeconfig,
        datastore_endpoint: a.datastore_endpoint,
        token: a.token,
    };
    apiserver::run(cfg, |url| eprintln!("berth server: serving the Kubernetes API on {url}"))
        .map_err(|e| anyhow!(e))?;
    Ok(0)
}
