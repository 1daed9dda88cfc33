//! Images: content-addressed blobs, references, manifests, unpacked layers,
//! overlay snapshots, a registry client and image archives.

#![deny(missing_docs)]

pub mod archive;
pub mod config;
pub mod content;
pub mod diff;
pub mod digest;
pub mod error;
pub mod io;
pub mod layer;
pub mod lease;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod readahead;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;

pub use content::ContentStore;
pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use store::{ImageRecord, ImageStore, LayerRecord};
