//! `berth build`: Dockerfiles to images, with a layer cache.
//!
//! The Dockerfile is parsed (`dockerfile`), its stages ordered by what they
//! need (`plan`); each instruction either changes the image config only, or
//! makes a layer: COPY/ADD by writing files into a fresh directory, RUN by
//! running a container (through the engine) on an overlay whose upper
//! directory becomes the layer. Every step is looked up first in the cache
//! (`cache`), keyed on its parent, its text and the content of the files it
//! reads.

pub mod builder;
pub mod cache;
pub mod copy;
pub mod dockerfile;
pub mod error;
pub mod ignore;
pub mod layer;
pub mod progress;
pub mod source;
pub mod state;
pub mod step;
pub mod view;

pub use builder::{build, Built, Options};
pub use error::{Error, Result};
