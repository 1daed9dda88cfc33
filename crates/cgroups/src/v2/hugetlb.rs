use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::common::set;
use crate::{Error, Result};

pub(crate) const FIELD: &str = "linux.resources.hugepageLimits";

pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = check_page_size(l.page_size())?;
        let value = if l.limit() < 0 { "max".to_string() } else { l.limit().to_string() };
        set(dir, &format!("hugetlb.{size}.max"), &value, FIELD)?;
        // Reservations would otherwise let a task reserve past the limit.
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        if dir.join(&rsvd).exists() {
            set(dir, &rsvd, &value, FIELD)?;
        }
    }
    Ok(())
}

/// The size becomes part of a file name: accept only the kernel's spelling
/// ("2MB", "1GB", "64KB") so a spec cannot name another file.
pub(crate) fn check_page_size(size: &str) -> Result<&str> {
    let digits = size.trim_end_matches(['K', 'M', 'G', 'B']);
    let unit = &size[digits.len()..];
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && ["KB", "MB", "GB"].contains(&unit) {
        Ok(size)
    } else {
        Err(Error::Invalid { field: FIELD, reason: format!("page size {size:?} is not of the form <number>KB|MB|GB") })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_sizes() {
        use super::check_page_size as c;
        assert!(c("2MB").is_ok() && c("1GB").is_ok() && c("64KB").is_ok());
        for bad in ["", "MB", "2M", "2mb", "../2MB", "2MB/x", "2BM", "2MBB"] {
            assert!(c(bad).is_err(), "{bad}");
        }
    }
}
