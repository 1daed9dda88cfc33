//! Starting processes in containers: the parent side (`spawn`), the child side
//! (`init`), the channel between them, terminals and foreground waiting.

pub mod foreground;
pub mod init;
pub mod plan;
pub mod spawn;
pub mod stub;
pub mod sync;
pub mod tty;
