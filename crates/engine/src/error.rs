//! The engine's errors. Messages follow docker's wording where users know it
//! ("No such container: x", "Conflict. The container name … is already in use").

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {0}")]
    NoSuchContainer(String),

    #[error("No such network: {0}")]
    NoSuchNetwork(String),

    #[error("No such volume: {0}")]
    NoSuchVolume(String),

    #[error("{0}")]
    Conflict(String),

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Invalid(String),

    #[error("container {id} is not running")]
    NotRunning { id: String },

    #[error("state database: {0}")]
    Db(String),

    #[error(transparent)]
    Image(#[from] image::Error),

    #[error(transparent)]
    Runtime(#[from] runtime::Error),

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
