//! Command-line surface. One module per command group.

mod attach;
mod builds;
mod container;
mod copy;
mod format;
mod images;
mod info;
mod network;
mod progress;
mod runc;
mod server;
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
    Build(builds::BuildArgs),
    /// Run the cluster's API server (Kubernetes-compatible; kubectl is its client).
    Server(server::ServerArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(builds::BuilderCmd),
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
    Pull(images::PullArgs),
    /// Push an image to a registry.
    Push(images::PushArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag { source: String, target: String },
    /// List images.
    Images(images::ImagesArgs),
    /// Remove images.
    Rmi(images::RmiArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(images::ImageCmd),
    /// Save images to a tar archive (docker-archive or OCI layout).
    Save(images::SaveArgs),
    /// Load images from a tar archive.
    Load(images::LoadArgs),
    /// Create an image from a rootfs tarball.
    Import(images::ImportArgs),
    /// Log in to a registry.
    Login(images::LoginArgs),
    /// Log out from a registry.
    Logout { server: Option<String> },
    /// The OCI runtime, with runc's commands and flags, on bundle directories.
    Runtime(runc::RuntimeArgs),
    /// Show the berth version information.
    Version(info::FormatArg),
    /// Display system-wide information.
    Info(info::FormatArg),
    /// Print a shell completion script: `source <(berth completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
        Command::Build(a) => builds::build(&root, a),
        Command::Builder(c) => builds::builder(&root, c),
        Command::Server(a) => server::server(a),
        Command::Network(c) => network::network(&root, c),
        Command::Volume(c) => network::volume(&root, c),
        Command::System(c) => system::run(&root, c),
        Command::Events(a) => system::events(&root, a),
        Command::Pull(a) => images::run(&root, images::ImageCmd::Pull(a)),
        Command::Push(a) => images::run(&root, images::ImageCmd::Push(a)),
        Command::Tag { source, target } => images::run(&root, images::ImageCmd::Tag { source, target }),
        Command::Images(a) => images::run(&root, images::ImageCmd::Ls(a)),
        Command::Rmi(a) => images::run(&root, images::ImageCmd::Rm(a)),
        Command::Image(c) => images::run(&root, c),
        Command::Save(a) => images::run(&root, images::ImageCmd::Save(a)),
        Command::Load(a) => images::run(&root, images::ImageCmd::Load(a)),
        Command::Import(a) => images::run(&root, images::ImageCmd::Import(a)),
        Command::Login(a) => images::login(a),
        Command::Logout { server } => images::logout(server),
        Command::Runtime(args) => runc::run(args),
        Command::Version(a) => info::version(a),
        Command::Info(a) => info::info(&root, a),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(0)
        }
        Command::Internal(Internal::Monitor { id }) => Ok(engine::monitor::main(&root, &id).clamp(0, 255) as u8),
        Command::Internal(Internal::Dns { network }) => Ok(engine::dns::main(&root, &network).clamp(0, 255) as u8),
        Command::Internal(Internal::Archive(a)) => copy::archive(&root, a),
        Command::Internal(Internal::BuildRun { request }) => Ok(build::step::main(&root, &request).clamp(0, 255) as u8),
    }
}

/// Parses the command line the way docker does for `run`, `create` and
/// `exec`: everything after the image (or container) is the command, even
/// words that look like berth's own flags (`--entrypoint sh IMG -c 'cmd'`).
/// clap alone would take `-c` as `--cpu-shares`, so a `--` is inserted where
/// the command starts.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The command tree is built once: it is most of what every berth
    // invocation costs before it does anything (hundreds of arguments).
    let cmd = Cli::command();
    let argv = split_command(&cmd, argv);
    let mut matches = cmd.get_matches_from(argv);
    Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit())
}

fn split_command(root: &clap::Command, argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let takes_value = |cmd: &clap::Command, arg: &str| -> bool {
        let found = if let Some(long) = arg.strip_prefix("--") {
            cmd.get_arguments()
                .find(|a| a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|v| v.contains(&long)))
        } else {
            let c = arg.chars().nth(1);
            cmd.get_arguments().find(|a| a.get_short().is_some() && a.get_short() == c)
        };
        found.is_some_and(|a| a.get_action().takes_values())
    };
    let mut cmd = root;
    let mut positionals = 0;
    let mut i = 1;
    while i < argv.len() {
        let Some(a) = argv[i].to_str() else { return argv };
        if a == "--" {
            return argv;
        }
        if a.starts_with('-') && a.len() > 1 {
            // `--flag=value` and `-xVALUE` carry their value; a lone option
            // that takes one consumes the next word.
            let inline = if a.starts_with("--") { a.contains('=') } else { a.len() > 2 };
            if !inline && takes_value(cmd, a) {
                i += 1;
            }
        } else if let Some(sub) = cmd.find_subcommand(a) {
            cmd = sub;
            positionals = 0;
        } else {
            positionals += 1;
            let trailing = cmd.get_positionals().find(|p| p.is_trailing_var_arg_set());
            let before = cmd.get_positionals().filter(|p| !p.is_trailing_var_arg_set()).count();
            if trailing.is_some() && positionals == before {
                if argv.get(i + 1).and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('-') && n != "--") {
                    let mut out = argv;
                    out.insert(i + 1, "--".into());
                    return out;
                }
                return argv;
            }
        }
        i += 1;
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn split(args: &str) -> String {
        let argv = args.split(' ').map(std::ffi::OsString::from).collect();
        let out = split_command(&Cli::command(), argv);
        out.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_command_after_the_image_keeps_flag_like_words() {
        assert_eq!(split("berth run --entrypoint sh img -c ls"), "berth run --entrypoint sh img -- -c ls");
        assert_eq!(split("berth --root /r run -e A=1 --rm img -x"), "berth --root /r run -e A=1 --rm img -- -x");
        assert_eq!(split("berth container create -c 2 img --help"), "berth container create -c 2 img -- --help");
        assert_eq!(split("berth exec -it web -c x"), "berth exec -it web -- -c x");
    }

    #[test]
    fn command_lines_without_such_words_are_unchanged() {
        for s in [
            "berth run img sh -c ls",
            "berth run --rm img",
            "berth run img -- -c",
            "berth ps -a",
            "berth run --name=x img",
        ] {
            assert_eq!(split(s), s);
        }
    }
}
