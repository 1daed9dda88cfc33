//! Pull and push progress like docker's: a bar per layer on a terminal, one
//! line per state change otherwise (logs and pipes).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use image::progress::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Display {
    Bars { multi: MultiProgress, bars: Mutex<HashMap<String, ProgressBar>> },
    Lines { last: Mutex<HashMap<String, String>>, stderr: bool },
    Silent,
}

impl Display {
    /// Progress on stdout (`pull`, `push`): bars on a terminal, else lines.
    pub fn new(quiet: bool) -> Display {
        Display::on(quiet, false)
    }

    /// Progress on stderr, where `run` and `create` print it (docker does
    /// too: their stdout is the container's id or output).
    pub fn on_stderr(quiet: bool) -> Display {
        Display::on(quiet, true)
    }

    fn on(quiet: bool, stderr: bool) -> Display {
        let terminal = if stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        if quiet {
            Display::Silent
        } else if terminal {
            let target = if stderr { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::stdout() };
            Display::Bars { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()) }
        } else {
            Display::Lines { last: Mutex::new(HashMap::new()), stderr }
        }
    }
}

fn text(e: &Event) -> String {
    match e {
        Event::Waiting => "Waiting".into(),
        Event::AlreadyExists => "Already exists".into(),
        Event::Downloading { .. } => "Downloading".into(),
        Event::Extracting => "Extracting".into(),
        Event::PullComplete => "Pull complete".into(),
        Event::Pushing { .. } => "Pushing".into(),
        Event::Pushed => "Pushed".into(),
        Event::LayerExists => "Layer already exists".into(),
        Event::Mounted { from } => format!("Mounted from {from}"),
    }
}

impl Progress for Display {
    fn layer(&self, id: &str, event: Event) {
        match self {
            Display::Silent => {}
            Display::Lines { last, stderr } => {
                let t = text(&event);
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.get(id) != Some(&t) {
                    line(*stderr, &format!("{id}: {t}"));
                    last.insert(id.to_string(), t);
                }
            }
            Display::Bars { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                let bar = bars.entry(id.to_string()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(0));
                    b.set_style(
                        ProgressStyle::with_template("{prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.set_prefix(id.to_string());
                    b
                });
                match &event {
                    Event::Downloading { current, total } | Event::Pushing { current, total } => {
                        if bar.length() != Some(*total) {
                            bar.set_length(*total);
                            bar.set_style(
                                ProgressStyle::with_template("{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}")
                                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                                    .progress_chars("=> "),
                            );
                        }
                        bar.set_position(*current);
                        bar.set_message(text(&event));
                    }
                    _ => {
                        bar.set_style(
                            ProgressStyle::with_template("{prefix}: {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                        bar.set_message(text(&event));
                        if matches!(
                            event,
                            Event::PullComplete
                                | Event::AlreadyExists
                                | Event::Pushed
                                | Event::LayerExists
                                | Event::Mounted { .. }
                        ) {
                            bar.finish();
                        }
                    }
                }
            }
        }
    }

    fn message(&self, line: &str) {
        match self {
            Display::Silent => {}
            Display::Lines { stderr, .. } => self::line(*stderr, line),
            Display::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
        }
    }
}

fn line(stderr: bool, text: &str) {
    if stderr {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}
