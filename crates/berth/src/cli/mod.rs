//! Command-line surface. One module per command group.

mod attach;
mod build;
mod container;
mod copy;
mod format;
mod image;
mod network;
mod progress;
mod runtime;
mod stats;
mod system;
mod template;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "Containers, images and clusters in one program")]
pub struct Cli {
    /// State directory for images and containers.
    #[arg(long, default_value = "/var/lib/berth", env = "BERTH_ROOT")]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage containers.
    #[command(subcommand)]
    Container(container::ContainerCmd),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(build::BuilderCmd),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(network::VolumeCmd),
    /// Manage berth: disk usage, prune, events.
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Get real time events.
    Events(system::EventsArgs),
    /// Pull an image from a registry.
    Pull(image::PullArgs),
    /// Push an image to a registry.
    Push(image::PushArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag { source: String, target: String },
    /// List images.
    Images(image::ImagesArgs),
    /// Remove images.
    Rmi(image::RmiArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(image::ImageCmd),
    /// Save images to a tar archive (docker-archive or OCI layout).
    Save(image::SaveArgs),
    /// Load images from a tar archive.
    Load(image::LoadArgs),
    /// Create an image from a rootfs tarball.
    Import(image::ImportArgs),
    /// Log in to a registry.
    Login(image::LoginArgs),
    /// Log out from a registry.
    Logout { server: Option<String> },
    /// The OCI runtime, with runc's commands and flags, on bundle directories.
    Runtime(runtime::RuntimeArgs),
    /// Processes berth starts for itself (container monitors, network DNS).
    #[command(hide = true, subcommand)]
    Internal(Internal),
    /// Container commands are also top-level, as in docker (`berth run`).
    #[command(flatten)]
    Shortcut(container::ContainerCmd),
}

#[derive(Subcommand, Debug)]
enum Internal {
    Monitor {
        id: String,
    },
    Dns {
        network: String,
    },
    #[command(subcommand)]
    Archive(copy::ArchiveCmd),
    BuildRun {
        request: PathBuf,
    },
}

/// Runs a command; the result is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let root = cli.root;
    match cli.command {
        Command::Container(c) | Command::Shortcut(c) => container::run(&root, c),
        Command::Build(a) => build::build(&root, a),
        Command::Builder(c) => build::builder(&root, c),
        Command::Network(c) => network::network(&root, c),
        Command::Volume(c) => network::volume(&root, c),
        Command::System(c) => system::run(&root, c),
        Command::Events(a) => system::events(&root, a),
        Command::Pull(a) => image::run(&root, image::ImageCmd::Pull(a)),
        Command::Push(a) => image::run(&root, image::ImageCmd::Push(a)),
        Command::Tag { source, target } => image::run(&root, image::ImageCmd::Tag { source, target }),
        Command::Images(a) => image::run(&root, image::ImageCmd::Ls(a)),
        Command::Rmi(a) => image::run(&root, image::ImageCmd::Rm(a)),
        Command::Image(c) => image::run(&root, c),
        Command::Save(a) => image::run(&root, image::ImageCmd::Save(a)),
        Command::Load(a) => image::run(&root, image::ImageCmd::Load(a)),
        Command::Import(a) => image::run(&root, image::ImageCmd::Import(a)),
        Command::Login(a) => image::login(a),
        Command::Logout { server } => image::logout(server),
        Command::Runtime(args) => runtime::run(args),
        Command::Internal(Internal::Monitor { id }) => Ok(engine::monitor::main(&root, &id).clamp(0, 255) as u8),
        Command::Internal(Internal::Dns { network }) => Ok(engine::dns::main(&root, &network).clamp(0, 255) as u8),
        Command::Internal(Internal::Archive(a)) => copy::archive(&root, a),
        Command::Internal(Internal::BuildRun { request }) => {
            Ok(::build::step::main(&root, &request).clamp(0, 255) as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
