//! Creating paths inside the container's root without ever leaving it: see
//! the `inroot` crate, shared with the image layer unpacker.

pub use inroot::{create_file, mkdir_all, open_path, parent_and_name};
