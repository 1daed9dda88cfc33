//! The builder's errors: they name the Dockerfile line where there is one.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with an instruction, at a line of the Dockerfile.
    #[error("Dockerfile:{line}: {message}")]
    At { line: usize, message: String },

    #[error("{0}")]
    Invalid(String),

    /// A RUN whose command failed: its exit code.
    #[error("Dockerfile:{line}: process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed { line: usize, command: String, code: i32 },

    #[error(transparent)]
    Parse(#[from] crate::dockerfile::ParseError),

    #[error(transparent)]
    Image(#[from] image::Error),

    #[error(transparent)]
    Engine(#[from] engine::Error),

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    pub fn at(line: usize, message: impl Into<String>) -> Error {
        Error::At { line, message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
