//! Creating paths inside the container's root without ever leaving it: see
//! the `sys` crate (`sys::root`), shared with the image layer unpacker.

pub use sys::root::{create_file, mkdir_all, open_path, parent_and_name};
