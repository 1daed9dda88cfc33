//! Disk usage (`system df`, the API's `/system/df`): what images,
//! containers, volumes and interrupted pulls hold, and what a prune could
//! reclaim. Measured once here so that both frontends agree.

use std::collections::HashMap;

use image::store::Incomplete;

use crate::engine::Engine;
use crate::error::Result;
use crate::model::{Container, Status};
use crate::volume::Volume;

pub struct DiskUsage {
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
    pub build_cache: Vec<CacheUsage>,
    /// Ingest files and layer staging left by interrupted pulls, loads and
    /// builds (`held` ones are still being written).
    pub incomplete: Vec<Incomplete>,
}

pub struct ImageUsage {
    pub id: image::Digest,
    pub size: u64,
    /// Containers made from it (they keep it from `image prune -a`).
    pub containers: usize,
}

/// A build cache entry: its layer, and whether an image uses the layer too
/// (which keeps it past `builder prune`).
pub struct CacheUsage {
    pub layer: image::Digest,
    pub size: u64,
    pub shared: bool,
}

pub struct ContainerUsage {
    pub container: Container,
    /// The writable layer's bytes.
    pub size_rw: u64,
}

pub struct VolumeUsage {
    pub volume: Volume,
    pub size: u64,
    pub users: usize,
}

/// One line of `system df`: how many, how many in use, bytes, and bytes a
/// prune would free.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

impl DiskUsage {
    pub fn images_summary(&self) -> Summary {
        let size = self.images.iter().map(|i| i.size).sum();
        let used: Vec<_> = self.images.iter().filter(|i| i.containers > 0).collect();
        let used_size: u64 = used.iter().map(|i| i.size).sum();
        Summary { total: self.images.len(), active: used.len(), size, reclaimable: size - used_size }
    }

    pub fn containers_summary(&self) -> Summary {
        let running = |c: &ContainerUsage| matches!(c.container.state.status, Status::Running | Status::Paused);
        Summary {
            total: self.containers.len(),
            active: self.containers.iter().filter(|c| running(c)).count(),
            size: self.containers.iter().map(|c| c.size_rw).sum(),
            reclaimable: self.containers.iter().filter(|c| !running(c)).map(|c| c.size_rw).sum(),
        }
    }

    pub fn volumes_summary(&self) -> Summary {
        Summary {
            total: self.volumes.len(),
            active: self.volumes.iter().filter(|v| v.users > 0).count(),
            size: self.volumes.iter().map(|v| v.size).sum(),
            reclaimable: self.volumes.iter().filter(|v| v.users == 0).map(|v| v.size).sum(),
        }
    }

    /// Cache entries: "active" ones are layers an image uses as well.
    pub fn build_cache_summary(&self) -> Summary {
        Summary {
            total: self.build_cache.len(),
            active: self.build_cache.iter().filter(|c| c.shared).count(),
            size: self.build_cache.iter().map(|c| c.size).sum(),
            reclaimable: self.build_cache.iter().filter(|c| !c.shared).map(|c| c.size).sum(),
        }
    }

    /// Interrupted writes: those still held are in progress, the rest is
    /// what `image prune` (and `system prune`) sweeps.
    pub fn incomplete_summary(&self) -> Summary {
        Summary {
            total: self.incomplete.len(),
            active: self.incomplete.iter().filter(|i| i.held).count(),
            size: self.incomplete.iter().map(|i| i.size).sum(),
            reclaimable: self.incomplete.iter().filter(|i| !i.held).map(|i| i.size).sum(),
        }
    }
}

impl Engine {
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let containers = self.containers()?;
        let mut users: HashMap<String, usize> = HashMap::new();
        for c in &containers {
            *users.entry(c.config.image_id.trim_start_matches("sha256:").to_string()).or_default() += 1;
        }
        let records = self.images.images()?;
        let image_layers: std::collections::HashSet<&image::Digest> =
            records.iter().flat_map(|(r, _)| r.layers.iter().map(|l| &l.chain_id)).collect();
        let build_cache = self
            .images
            .leases_of(image::lease::BUILD_CACHE)
            .iter()
            .flat_map(|l| l.layers.iter())
            .map(|c| CacheUsage {
                size: self.images.layer_meta(c).map_or(0, |m| m.size),
                shared: image_layers.contains(c),
                layer: c.clone(),
            })
            .collect();
        let images = records
            .iter()
            .map(|(rec, _)| ImageUsage {
                containers: users.get(rec.id.hex()).copied().unwrap_or(0),
                size: rec.size,
                id: rec.id.clone(),
            })
            .collect();
        let snap = image::snapshot::for_host(&self.images)?;
        let containers = containers
            .into_iter()
            .map(|c| ContainerUsage { size_rw: crate::ops::disk_usage(&snap.upper(&c.id)), container: c })
            .collect();
        let mut volumes = Vec::new();
        for v in self.volumes()? {
            let users = self.volume_users(&v.name)?.len();
            volumes.push(VolumeUsage { size: crate::ops::disk_usage(&self.volume_dir(&v.name)), users, volume: v });
        }
        Ok(DiskUsage { images, containers, volumes, build_cache, incomplete: self.images.incomplete() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_writes_nobody_holds_are_reclaimable() {
        let inc = |size, held| Incomplete { path: "/x".into(), size, held };
        let u = DiskUsage {
            images: vec![],
            containers: vec![],
            volumes: vec![],
            build_cache: vec![
                CacheUsage { layer: image::Digest::of(b"a"), size: 10, shared: true },
                CacheUsage { layer: image::Digest::of(b"b"), size: 5, shared: false },
            ],
            incomplete: vec![inc(100, false), inc(50, true), inc(7, false)],
        };
        assert_eq!(u.incomplete_summary(), Summary { total: 3, active: 1, size: 157, reclaimable: 107 });
        assert_eq!(u.images_summary(), Summary::default());
        assert_eq!(u.build_cache_summary(), Summary { total: 2, active: 1, size: 15, reclaimable: 5 });
    }

    #[test]
    fn images_in_use_by_a_container_are_not_reclaimable() {
        let img = |n: u8, size, containers| ImageUsage { id: image::Digest::of(&[n]), size, containers };
        let u = DiskUsage {
            images: vec![img(1, 10, 2), img(2, 5, 0)],
            containers: vec![],
            volumes: vec![],
            build_cache: vec![],
            incomplete: vec![],
        };
        assert_eq!(u.images_summary(), Summary { total: 2, active: 1, size: 15, reclaimable: 5 });
    }
}
