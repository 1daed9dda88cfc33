//! What a process may do once it runs: capabilities, user and groups, resource
//! limits. (Seccomp lives in its own crate.)

pub mod caps;
pub mod rlimits;
pub mod user;
