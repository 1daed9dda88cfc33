//! Pull and push progress like docker's: a bar per layer on a terminal, one
//! line per state change otherwise (logs and pipes).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use image::progress::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Display {
    Bars { multi: MultiProgress, bars: Mutex<HashMap<String, ProgressBar>> },
    Lines { last: Mutex<HashMap<String, String>> },
    Silent,
}

impl Display {
    /// Bars when stderr... docker draws on stdout; so do we when it is a terminal.
    pub fn new(quiet: bool) -> Display {
        if quiet {
            Display::Silent
        } else if std::io::stdout().is_terminal() {
            Display::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Display::Lines { last: Mutex::new(HashMap::new()) }
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
            Display::Lines { last } => {
                let t = text(&event);
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.get(id) != Some(&t) {
                    println!("{id}: {t}");
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
            Display::Lines { .. } => println!("{line}"),
            Display::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
        }
    }
}
