use std::collections::HashMap;
use std::path::Path;

use crate::common::set;
use crate::{Error, Result};

const FIELD: &str = "linux.resources.unified";

/// Writes raw `file: value` pairs; keys must be plain control file names.
pub(super) fn apply(dir: &Path, unified: &HashMap<String, String>) -> Result<()> {
    let mut pairs: Vec<_> = unified.iter().collect();
    pairs.sort();
    for (key, _) in &pairs {
        if key.is_empty() || key.contains('/') || key.starts_with('.') || !key.contains('.') {
            return Err(Error::Invalid {
                field: FIELD,
                reason: format!("key {key:?} is not a control file name such as \"memory.high\""),
            });
        }
    }
    for (key, value) in pairs {
        set(dir, key, value, FIELD).map_err(|e| match e {
            Error::Unsupported { .. } => Error::Unsupported {
                field: FIELD,
                reason: format!(
                    "{key}: not supported on this host: {} is absent (is its controller enabled?)",
                    dir.join(key).display()
                ),
            },
            e => e,
        })?;
    }
    Ok(())
}
