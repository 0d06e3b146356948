//! The one wiring of every command: source → score → sink.
//!
//! `serve`, `replay` (plain, `--listen`, `--alerts`), `score`, `tail` and `evaluate` all
//! run their lines through [`run`]: a source thread reads batches, a scorer thread scores
//! each batch on rayon and judges it against the threshold ([`Scorer`]), and the calling
//! thread hands the scored batches, in source order, to a [`Sink`] (the aggregator, the
//! metrics, the alert feed, a printer, a report). The channels between the three are
//! bounded, so a slow sink slows the reader instead of filling memory; nothing read is
//! lost unless the pipeline is stopped and its drain deadline passes, and then the lines
//! dropped are counted and handed to [`Sink::dropped`].

mod scorer;
mod source;

pub use scorer::{Models, Scorer};
pub use source::{Source, IDLE};

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::event::{LogLine, ScoredLine};
use crate::input::{ReadError, ReadStats, SinkError};

use source::{Feed, Reader};

/// How a pipeline batches and drains.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most lines scored together: large enough to keep every core busy.
    pub batch_lines: usize,
    /// Once [`Stop::now`] is called, lines not scored within this long are dropped (and
    /// counted); `None`: every line read is scored, however long it takes.
    pub drain: Option<Duration>,
    /// Asks the source to stop; shared with whoever decides when to stop.
    pub stop: Stop,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_lines: 8192,
            drain: None,
            stop: Stop::default(),
        }
    }
}

/// A request to stop, and when it was made (the drain deadline counts from it).
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<OnceLock<Instant>>);

impl Stop {
    /// Asks the pipeline to stop reading; lines already read are still scored until the
    /// drain deadline.
    pub fn now(&self) {
        let _ = self.0.set(Instant::now());
    }

    /// Whether stopping was asked.
    pub fn asked(&self) -> bool {
        self.0.get().is_some()
    }

    /// Whether stopping was asked more than `drain` ago.
    fn overdue(&self, drain: Option<Duration>) -> bool {
        match (self.0.get(), drain) {
            (Some(at), Some(drain)) => at.elapsed() > drain,
            _ => false,
        }
    }
}

/// A scored batch, in source order.
#[derive(Debug)]
pub struct Batch {
    /// The scorer that scored it (its model explains the lines).
    pub scorer: Scorer,
    /// The lines with their scores; what a sink leaves here is freed on the source thread.
    pub lines: Vec<ScoredLine>,
    /// How long scoring took.
    pub took: Duration,
}

/// Why lines were not scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// There was no model (none loaded, and training a first one failed).
    NoModel,
    /// The model failed on the batch.
    ModelError,
    /// The pipeline was stopped and its drain deadline passed.
    Deadline,
}

impl Dropped {
    /// A short description for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoModel => "no model",
            Self::ModelError => "scoring failed",
            Self::Deadline => "drain deadline passed",
        }
    }
}

/// Where scored lines go: what a command does with them.
pub trait Sink {
    /// Takes a scored batch. An error stops the pipeline and is returned by [`run`].
    fn batch(&mut self, batch: &mut Batch) -> Result<(), SinkError>;

    /// A live source sent nothing for [`IDLE`]: a time to refresh views.
    fn idle(&mut self) {}

    /// `lines` were not scored, for the reason given.
    fn dropped(&mut self, lines: u64, why: Dropped) {
        tracing::warn!("{lines} lines not scored: {}", why.as_str());
    }
}

impl<F: FnMut(&mut Batch) -> Result<(), SinkError>> Sink for F {
    fn batch(&mut self, batch: &mut Batch) -> Result<(), SinkError> {
        self(batch)
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Summary {
    /// Reader counts (complete when the read finished, else `lines` only).
    pub read: ReadStats,
    /// Lines scored and handed to the sink.
    pub scored: u64,
    /// Lines read but not scored (see [`Dropped`]).
    pub dropped: u64,
    /// Wall time from start to the last line handed to the sink.
    pub elapsed: Duration,
    /// The error that ended the read early; every line read before it was scored.
    pub error: Option<ReadError>,
}

/// What the scorer thread hands the sink.
enum Out {
    Batch(Batch),
    Idle,
    Dropped(u64, Dropped),
}

/// Scored batches in flight between the scorer and the sink.
const SCORED_IN_FLIGHT: usize = 2;
/// Batches read ahead of the scorer.
const READ_AHEAD: usize = 4;

/// Runs `source` through the scorers `models` gives into `sink`, until the source ends,
/// the sink fails (its error is returned) or [`Options::stop`] is called.
///
/// A read error ends the run but is returned in the summary, after every line read
/// before it has been scored: nothing already read is lost.
pub fn run(
    source: Source,
    models: &mut impl Models,
    sink: &mut impl Sink,
    opts: &Options,
) -> Result<Summary, SinkError> {
    let start = Instant::now();
    let (feed_tx, feed_rx) = sync_channel::<Feed>(READ_AHEAD);
    let (out_tx, out_rx) = sync_channel::<Out>(SCORED_IN_FLIGHT);
    let (back_tx, back_rx) = sync_channel::<Vec<ScoredLine>>(READ_AHEAD);
    let reader = Reader {
        tx: feed_tx,
        back: back_rx,
        batch_lines: opts.batch_lines.max(1),
        stop: &opts.stop,
    };
    std::thread::scope(|scope| {
        let read = scope.spawn(move || reader.run(source));
        scope.spawn(move || score_all(feed_rx, models, &out_tx, opts));
        let (mut scored, mut dropped) = (0u64, 0u64);
        let mut failed = None;
        for out in &out_rx {
            match out {
                Out::Batch(mut batch) => {
                    scored += batch.lines.len() as u64;
                    if let Err(e) = sink.batch(&mut batch) {
                        failed = Some(e);
                        break;
                    }
                    // a full return channel only means the batch is freed here instead
                    let _ = back_tx.try_send(batch.lines);
                }
                Out::Idle => sink.idle(),
                Out::Dropped(n, why) => {
                    dropped += n;
                    sink.dropped(n, why);
                }
            }
        }
        drop(out_rx);
        let read = read
            .join()
            .unwrap_or_else(|_| Err(ReadError::Sink("the reader thread panicked".into())));
        if let Some(e) = failed {
            return Err(e);
        }
        let (read, error) = match read {
            Ok(stats) => (stats, None),
            Err(e) => {
                let lines = scored + dropped;
                let stats = ReadStats {
                    lines,
                    ..ReadStats::default()
                };
                (stats, Some(e))
            }
        };
        Ok(Summary {
            read,
            scored,
            dropped,
            elapsed: start.elapsed(),
            error,
        })
    })
}

/// The scorer thread: scores each batch with the scorer `models` gives; when the source
/// has ended, scores what `models` still holds.
fn score_all(
    feed: std::sync::mpsc::Receiver<Feed>,
    models: &mut impl Models,
    out: &std::sync::mpsc::SyncSender<Out>,
    opts: &Options,
) {
    let mut scores = Vec::new();
    for f in feed {
        let sent = match f {
            Feed::Idle => out.send(Out::Idle),
            Feed::Lines(lines) if opts.stop.overdue(opts.drain) => {
                out.send(Out::Dropped(lines.len() as u64, Dropped::Deadline))
            }
            Feed::Lines(mut lines) => {
                let scorer = models.scorer(&mut lines, false);
                score_one(scorer, lines, &mut scores, out)
            }
        };
        if sent.is_err() {
            return;
        }
    }
    let mut rest = Vec::new();
    let scorer = models.scorer(&mut rest, true);
    if !rest.is_empty() {
        let _ = score_one(scorer, rest, &mut scores, out);
    }
}

/// Scores `lines` with `scorer` and sends the batch, or sends why it was dropped.
fn score_one(
    scorer: Option<Scorer>,
    lines: Vec<LogLine>,
    scores: &mut Vec<f32>,
    out: &std::sync::mpsc::SyncSender<Out>,
) -> Result<(), std::sync::mpsc::SendError<Out>> {
    if lines.is_empty() {
        return Ok(());
    }
    let Some(scorer) = scorer else {
        return out.send(Out::Dropped(lines.len() as u64, Dropped::NoModel));
    };
    match scorer.score_timed(lines, scores) {
        Ok((lines, took)) => out.send(Out::Batch(Batch {
            scorer,
            lines,
            took,
        })),
        Err((lines, e)) => {
            tracing::error!("scoring failed: {e}");
            out.send(Out::Dropped(lines.len() as u64, Dropped::ModelError))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LabelNames, Stream};
    use std::collections::BTreeMap;

    fn lines(n: usize) -> Vec<LogLine> {
        let labels = BTreeMap::from([("pod".to_string(), "cart-1".to_string())]);
        let stream = Arc::new(Stream::from_labels(labels, &LabelNames::default()));
        (0..n)
            .map(|i| LogLine {
                ts_ns: i as i64,
                stream: Arc::clone(&stream),
                line: format!("user {i} added item {} to cart", i % 7),
            })
            .collect()
    }

    fn scorer() -> Scorer {
        Scorer::new(Arc::new(crate::bundled::model().unwrap()), None)
    }

    #[test]
    fn every_line_reaches_the_sink_in_order_with_the_threshold_applied() {
        let mut seen = Vec::new();
        let opts = Options {
            batch_lines: 7,
            ..Options::default()
        };
        let mut scorer = scorer();
        let threshold = scorer.threshold();
        let summary = run(
            Source::Lines(lines(100)),
            &mut scorer,
            &mut |b: &mut Batch| {
                for s in &b.lines {
                    assert_eq!(s.anomalous, s.score >= threshold);
                }
                seen.extend(b.lines.drain(..).map(|s| s.log.ts_ns));
                Ok(())
            },
            &opts,
        )
        .unwrap();
        assert_eq!(seen, (0..100).collect::<Vec<i64>>());
        assert_eq!((summary.scored, summary.dropped), (100, 0));
    }

    #[test]
    fn a_sink_error_stops_the_run_and_is_returned() {
        let mut calls = 0;
        let opts = Options {
            batch_lines: 10,
            ..Options::default()
        };
        let result = run(
            Source::Lines(lines(1000)),
            &mut scorer(),
            &mut |_: &mut Batch| {
                calls += 1;
                Err("enough".into())
            },
            &opts,
        );
        assert_eq!(result.unwrap_err().to_string(), "enough");
        assert_eq!(calls, 1);
    }

    /// Has no model until it has seen `need` lines; then scores every line it kept.
    struct Late {
        need: usize,
        kept: Vec<LogLine>,
    }

    impl Models for Late {
        fn scorer(&mut self, lines: &mut Vec<LogLine>, ended: bool) -> Option<Scorer> {
            self.kept.append(lines);
            if self.kept.len() < self.need && !ended {
                return None;
            }
            std::mem::swap(lines, &mut self.kept);
            Some(scorer())
        }
    }

    #[test]
    fn lines_held_for_a_first_model_are_scored_once_it_exists_and_at_the_end() {
        let mut seen = 0u64;
        let opts = Options {
            batch_lines: 10,
            ..Options::default()
        };
        let mut models = Late {
            need: 35,
            kept: Vec::new(),
        };
        let mut count = |b: &mut Batch| {
            seen += b.lines.len() as u64;
            Ok(())
        };
        let summary = run(Source::Lines(lines(101)), &mut models, &mut count, &opts).unwrap();
        assert_eq!((seen, summary.scored, summary.dropped), (101, 101, 0));
    }

    #[test]
    fn after_the_drain_deadline_lines_are_dropped_and_counted() {
        let opts = Options {
            batch_lines: 10,
            drain: Some(Duration::ZERO),
            ..Options::default()
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1000);
        for l in lines(100) {
            tx.try_send(l).unwrap();
        }
        drop(tx);
        opts.stop.now();
        std::thread::sleep(Duration::from_millis(5));
        let mut noted = 0u64;
        struct Count<'a>(&'a mut u64);
        impl Sink for Count<'_> {
            fn batch(&mut self, _: &mut Batch) -> Result<(), SinkError> {
                Ok(())
            }
            fn dropped(&mut self, lines: u64, why: Dropped) {
                assert_eq!(why, Dropped::Deadline);
                *self.0 += lines;
            }
        }
        let summary = run(
            Source::Channel(rx),
            &mut scorer(),
            &mut Count(&mut noted),
            &opts,
        )
        .unwrap();
        assert_eq!((summary.scored, summary.dropped, noted), (0, 100, 100));
    }
}
