//! Where lines come from: a file, a paced file, lines in memory, or a live source's
//! channel. Each is read on its own thread into batches.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use crate::event::{LogLine, ScoredLine};
use crate::input::{read_path, ReadError, ReadOptions, ReadStats};

use super::Stop;

/// How long a live source may stay silent before the sink is told it is idle.
pub const IDLE: Duration = Duration::from_secs(1);

/// The lines a pipeline runs on.
#[derive(Debug)]
pub enum Source {
    /// A file (`-`: standard input), in file order.
    File {
        /// The file.
        path: PathBuf,
        /// Reader settings.
        read: ReadOptions,
    },
    /// A file released in log-time order at `speed` times real time, so that dashboards
    /// see scores rise and fall. Loaded whole first: pacing needs log-time order across
    /// streams, and a Loki response is grouped by stream.
    Paced {
        /// The file.
        path: PathBuf,
        /// Reader settings.
        read: ReadOptions,
        /// Multiple of real time.
        speed: f64,
    },
    /// Lines already in memory, in order.
    Lines(Vec<LogLine>),
    /// A live source's channel (the Loki source); ends when every sender is gone.
    Channel(tokio::sync::mpsc::Receiver<LogLine>),
}

/// What the source thread hands the scorer.
pub(super) enum Feed {
    /// Lines to score, in order.
    Lines(Vec<LogLine>),
    /// A live source had nothing for [`IDLE`].
    Idle,
}

/// The source thread's ends of the channels and settings.
pub(super) struct Reader<'a> {
    /// Batches to score.
    pub tx: SyncSender<Feed>,
    /// Scored batches coming back, freed here (the allocator is fastest when memory is
    /// freed by the thread that took it).
    pub back: Receiver<Vec<ScoredLine>>,
    /// Lines per batch.
    pub batch_lines: usize,
    /// Set when the pipeline is asked to stop.
    pub stop: &'a Stop,
}

/// Why the scorer stopped taking lines (the consumer stopped).
const STOPPED: &str = "scoring stopped";

impl Reader<'_> {
    /// Reads `source` to its end (or until stopped) and returns what the reader counted.
    pub fn run(self, source: Source) -> Result<ReadStats, ReadError> {
        match source {
            Source::File { path, read } => self.file(&path, &read),
            Source::Paced { path, read, speed } => self.paced(&path, &read, speed),
            Source::Lines(lines) => {
                let stats = ReadStats {
                    lines: lines.len() as u64,
                    ..ReadStats::default()
                };
                self.lines(lines.into_iter())?;
                Ok(stats)
            }
            Source::Channel(rx) => self.channel(rx),
        }
    }

    /// An empty batch, after freeing the batches the consumer has handed back.
    fn fresh(&self) -> Vec<LogLine> {
        while self.back.try_recv().is_ok() {}
        Vec::with_capacity(self.batch_lines)
    }

    fn send(&self, lines: Vec<LogLine>) -> Result<(), ReadError> {
        self.tx
            .send(Feed::Lines(lines))
            .map_err(|_| ReadError::Sink(STOPPED.into()))
    }

    fn file(&self, path: &std::path::Path, read: &ReadOptions) -> Result<ReadStats, ReadError> {
        let mut batch = self.fresh();
        let result = read_path(path, read, &mut |line: LogLine| {
            if self.stop.asked() {
                return Err("stopped".into());
            }
            batch.push(line);
            if batch.len() >= self.batch_lines {
                let full = std::mem::replace(&mut batch, self.fresh());
                self.tx.send(Feed::Lines(full)).map_err(|_| STOPPED)?;
            }
            Ok(())
        });
        if !batch.is_empty() {
            // the consumer may have stopped; then these lines are not wanted
            let _ = self.send(batch);
        }
        result
    }

    /// Sends `lines` in batches; stops early when asked to.
    fn lines(&self, lines: impl Iterator<Item = LogLine>) -> Result<(), ReadError> {
        let mut batch = self.fresh();
        for line in lines {
            if self.stop.asked() {
                break;
            }
            batch.push(line);
            if batch.len() >= self.batch_lines {
                self.send(std::mem::replace(&mut batch, self.fresh()))?;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.send(batch)
    }

    fn paced(
        &self,
        path: &std::path::Path,
        read: &ReadOptions,
        speed: f64,
    ) -> Result<ReadStats, ReadError> {
        let mut lines = Vec::new();
        let result = read_path(path, read, &mut |line| {
            lines.push(line);
            Ok(())
        });
        lines.sort_by_key(|l| l.ts_ns);
        let first = lines.first().map_or(0, |l| l.ts_ns);
        let start = Instant::now();
        let mut batch = self.fresh();
        for line in lines {
            if self.stop.asked() {
                break;
            }
            let due = Duration::from_secs_f64(((line.ts_ns - first) as f64 / 1e9 / speed).max(0.0));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                if wait > Duration::from_millis(2) {
                    // what is due now goes first, so no line waits behind a sleep
                    if !batch.is_empty() {
                        self.send(std::mem::replace(&mut batch, self.fresh()))?;
                    }
                    std::thread::sleep(wait);
                }
            }
            batch.push(line);
            if batch.len() >= self.batch_lines {
                self.send(std::mem::replace(&mut batch, self.fresh()))?;
            }
        }
        if !batch.is_empty() {
            self.send(batch)?;
        }
        result
    }

    /// Takes whatever lines are waiting (up to a batch) as they come; says when none came
    /// for [`IDLE`], so a live sink can refresh its views and evict idle pods.
    fn channel(
        &self,
        mut rx: tokio::sync::mpsc::Receiver<LogLine>,
    ) -> Result<ReadStats, ReadError> {
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| ReadError::Sink(format!("cannot start the source's timer: {e}").into()))?;
        let mut stats = ReadStats::default();
        loop {
            let mut batch = self.fresh();
            let wait = clock.block_on(async {
                tokio::time::timeout(IDLE, rx.recv_many(&mut batch, self.batch_lines)).await
            });
            let feed = match wait {
                Ok(0) => break,
                Ok(n) => {
                    stats.lines += n as u64;
                    Feed::Lines(batch)
                }
                Err(_) => Feed::Idle,
            };
            if self.tx.send(feed).is_err() {
                break;
            }
        }
        Ok(stats)
    }
}
