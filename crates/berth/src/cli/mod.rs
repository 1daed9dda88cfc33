//! Command-line surface. One module per command group.

mod runtime;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "Containers, images and clusters in one program")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The OCI runtime, with runc's commands and flags, on bundle directories.
    Runtime(runtime::RuntimeArgs),
}

/// Runs a command; the result is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Runtime(args) => runtime::run(args),
    }
}
