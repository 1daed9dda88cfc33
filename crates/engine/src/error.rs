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

    /// The container's (or an exec's) program could not be run. `code` is
    /// what docker's CLI exits with: 127 when it is not found, 126 when it
    /// cannot be executed. The message keeps Go's wording ("no such file or
    /// directory", "permission denied"), which docker's CLI matches on.
    #[error("unable to start container process: {message}")]
    Exec { code: u8, message: String },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// The exit code a CLI reports for this error where docker's has one of
    /// its own (126/127 for a program that cannot be run).
    pub fn exit_code(&self) -> Option<u8> {
        match self {
            Error::Exec { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A runtime failure to run the program becomes [`Error::Exec`]; any
    /// other error is returned as it is.
    pub(crate) fn classify_start(self) -> Error {
        let Error::Runtime(runtime::Error::Init(text)) = &self else { return self };
        match exec_failure(text) {
            Some((code, message)) => Error::Exec { code, message },
            None => self,
        }
    }
}

/// The runtime's words for a program that cannot be run (`exec: "NAME":
/// WHY`), in docker's: the exit code and a Go-style message.
fn exec_failure(text: &str) -> Option<(u8, String)> {
    let rest = text.strip_prefix("exec: ")?;
    let (quoted, why) = rest.split_once(": ")?;
    let name = quoted.trim_matches('"');
    // io::Error's Display is "No such file or directory (os error 2)"; Go's
    // is lowercase and bare.
    let why = why.split(" (os error").next().unwrap_or(why);
    let lower = why.to_lowercase();
    if lower.contains("executable file not found") {
        Some((127, format!("exec: {quoted}: executable file not found in $PATH")))
    } else if lower.starts_with("no such file or directory") || lower.starts_with("not a directory") {
        Some((127, format!("exec: {quoted}: stat {name}: {lower}")))
    } else if lower.starts_with("permission denied") || lower.contains("exec format error") {
        Some((126, format!("exec: {quoted}: permission denied")))
    } else if lower.starts_with("is a directory") {
        Some((126, format!("exec: {quoted}: is a directory")))
    } else {
        None
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(init: &str) -> (Option<u8>, String) {
        let e = Error::Runtime(runtime::Error::Init(init.into())).classify_start();
        (e.exit_code(), e.to_string())
    }

    #[test]
    fn a_program_not_found_is_127_in_dockers_words() {
        let (code, msg) = classify(r#"exec: "/nonexistent": No such file or directory (os error 2)"#);
        assert_eq!(code, Some(127));
        assert_eq!(
            msg,
            r#"unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory"#
        );
        let (code, msg) = classify(r#"exec: "nonexistent": executable file not found in $PATH"#);
        assert_eq!(code, Some(127));
        assert!(msg.ends_with(r#"exec: "nonexistent": executable file not found in $PATH"#), "{msg}");
    }

    #[test]
    fn a_program_that_cannot_be_executed_is_126() {
        let (code, msg) = classify(r#"exec: "/etc/passwd": permission denied (not an executable file)"#);
        assert_eq!(code, Some(126));
        assert!(msg.ends_with(r#"exec: "/etc/passwd": permission denied"#), "{msg}");
        assert_eq!(classify(r#"exec: "/etc": Is a directory (os error 21)"#).0, Some(126));
    }

    #[test]
    fn other_failures_keep_their_own_words_and_no_code() {
        let (code, msg) = classify("mounts[3] (/data): No such file or directory (os error 2)");
        assert_eq!(code, None);
        assert!(msg.contains("mounts[3]"), "{msg}");
        assert_eq!(Error::NotFound("x".into()).classify_start().exit_code(), None);
    }
}
