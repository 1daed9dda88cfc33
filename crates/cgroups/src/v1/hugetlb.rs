use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::common::{read_file, set};
use crate::v2;
use crate::{Error, Result};

use v2::hugetlb::{check_page_size, FIELD};

/// Limits go to the v1 hugetlb hierarchy; hybrid hosts without one may
/// offer hugetlb on the unified tree (`unified` = (root, group path)).
pub(super) fn apply(dir: Option<&Path>, unified: Option<(&Path, &Path)>, limits: &[LinuxHugepageLimit]) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    for l in limits {
        check_page_size(l.page_size())?;
    }
    if let Some(dir) = dir {
        for l in limits {
            let size = check_page_size(l.page_size())?;
            let value = if l.limit() < 0 { "-1".to_string() } else { l.limit().to_string() };
            set(dir, &format!("hugetlb.{size}.limit_in_bytes"), &value, FIELD)?;
            // Reservations would otherwise let a task reserve past the limit.
            let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
            if dir.join(&rsvd).exists() {
                set(dir, &rsvd, &value, FIELD)?;
            }
        }
        return Ok(());
    }
    match unified {
        Some((root, rel)) if has_hugetlb(root) => {
            // Enabled only now that a limit is asked for: it is the one change
            // berth makes to the host's unified root (its subtree_control).
            v2::enable_controllers(root, rel, &["hugetlb"])?;
            v2::hugetlb::apply(&root.join(rel), limits)
        }
        _ => Err(Error::Unsupported {
            field: FIELD,
            reason: "the hugetlb controller is not available on this host".into(),
        }),
    }
}

fn has_hugetlb(root: &Path) -> bool {
    read_file(&root.join("cgroup.controllers")).is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
}
