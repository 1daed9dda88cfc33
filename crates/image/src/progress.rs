//! Progress of pulls and pushes, per layer, like docker's output. The CLI
//! draws bars on a terminal and plain lines otherwise; tests record events.

/// One layer's state change. `id` is the short (12 hex) blob digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Waiting,
    AlreadyExists,
    Downloading { current: u64, total: u64 },
    Extracting,
    PullComplete,
    Pushing { current: u64, total: u64 },
    Pushed,
    LayerExists,
    Mounted { from: String },
}

pub trait Progress: Sync {
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
    pub events: std::sync::Mutex<Vec<(String, Event)>>,
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
