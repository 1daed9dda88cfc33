//! Progress of pulls and pushes, per layer, like docker's output. The CLI
//! draws bars on a terminal and plain lines otherwise; tests record events.

/// One layer's state change. `id` is the short (12 hex) blob digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Queued behind other layers.
    Waiting,
    /// The blob (pull) is in the content store already: nothing to fetch.
    AlreadyExists,
    /// Fetching the blob: `current` of `total` bytes.
    Downloading {
        /// Bytes fetched so far.
        current: u64,
        /// The blob's size, from its descriptor.
        total: u64,
    },
    /// Downloaded and verified; being unpacked.
    Extracting,
    /// Unpacked: the layer is ready.
    PullComplete,
    /// Uploading the blob: `current` of `total` bytes.
    Pushing {
        /// Bytes sent so far.
        current: u64,
        /// The blob's size.
        total: u64,
    },
    /// Uploaded.
    Pushed,
    /// The registry has the blob already (push): nothing to upload.
    LayerExists,
    /// The registry mounted the blob from another repository of its own
    /// (distribution spec cross-repository mount): nothing uploaded.
    Mounted {
        /// The repository it came from.
        from: String,
    },
}

/// Where pulls and pushes report what they do, from several threads at once
/// (layers go in parallel).
pub trait Progress: Sync {
    /// A change of layer `id`'s state.
    fn layer(&self, id: &str, event: Event);
    /// A whole line: "latest: Pulling from library/busybox", "Digest: …".
    fn message(&self, line: &str);
}

/// Discards everything.
pub struct Quiet;

impl Progress for Quiet {
    fn layer(&self, _: &str, _: Event) {}
    fn message(&self, _: &str) {}
}

/// Remembers every event (for tests and for callers that report at the end).
#[derive(Default)]
pub struct Recorder {
    /// `(layer id, event)` in the order they came.
    pub events: std::sync::Mutex<Vec<(String, Event)>>,
    /// The whole lines, in order.
    pub messages: std::sync::Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn layer(&self, id: &str, event: Event) {
        if let Ok(mut e) = self.events.lock() {
            e.push((id.to_string(), event));
        }
    }
    fn message(&self, line: &str) {
        if let Ok(mut m) = self.messages.lock() {
            m.push(line.to_string());
        }
    }
}

impl Recorder {
    /// The last event of each layer.
    pub fn final_states(&self) -> Vec<(String, Event)> {
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        let mut out: Vec<(String, Event)> = Vec::new();
        for (id, ev) in events {
            match out.iter_mut().find(|(i, _)| *i == id) {
                Some(slot) => slot.1 = ev,
                None => out.push((id, ev)),
            }
        }
        out
    }
}
