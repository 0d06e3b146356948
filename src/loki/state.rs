//! Where the last run stopped: each selector's resume point, kept in a small JSON file
//! (`state_file`) so that a restart reads on from there instead of from `now - backfill`.
//!
//! The file reads `{"version": 1, "watermarks": {"<selector>": <unix ns>}}`. It is
//! replaced atomically (`<file>.tmp`, fsync, rename), so a crash mid-write leaves the
//! previous file whole. A file that cannot be used is reported, never fatal: the
//! selectors then start `backfill` back, as on a first run. A resume point more than
//! `max_catch_up` old is brought forward, so a week-long outage does not replay a week.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::LokiConfig;
use super::source::nanos;

/// The format version this build reads and writes.
pub(crate) const VERSION: u64 = 1;

/// How often the resume points are written while they move.
pub(crate) const SAVE_EVERY: Duration = Duration::from_secs(5);

/// Each selector's resume point in Unix nanoseconds: every entry below it was delivered
/// and none at or above it.
pub(crate) type Watermarks = BTreeMap<String, i64>;

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    /// The file exists but could not be read (permissions, a directory, I/O).
    #[error("cannot read the state file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Not JSON of the expected shape: truncated, edited by hand, not UTF-8.
    #[error("the state file {} is corrupt: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Written in another format version.
    #[error("the state file {} has format version {found}; this build reads version {VERSION}", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version it holds.
        found: u64,
    },
    /// The new file could not be written or put in place.
    #[error("cannot write the state file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    /// [`VERSION`], checked before anything else is read.
    version: u64,
    /// The resume point of each selector, keyed by the selector exactly as configured.
    watermarks: Watermarks,
}

/// The saved resume points; `Ok(None)` when there is no file yet (a first run).
pub(crate) fn load(path: &Path) -> Result<Option<Watermarks>, StateError> {
    match fs::read(path) {
        Ok(bytes) => parse(path, &bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads the file's bytes: the version first, so that another version is named as such.
fn parse(path: &Path, bytes: &[u8]) -> Result<Watermarks, StateError> {
    let corrupt = |message: String| StateError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(VERSION) => {}
        Some(found) => {
            return Err(StateError::Version {
                path: path.to_path_buf(),
                found,
            })
        }
        None => return Err(corrupt("no version number".into())),
    }
    let file: StateFile = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    Ok(file.watermarks)
}

/// Replaces the file with `marks`: writes `<file>.tmp`, flushes it to disk and renames it
/// over the file, so that a crash leaves either the old file or the new one.
pub(crate) fn write(path: &Path, marks: &Watermarks) -> Result<(), StateError> {
    let tmp = tmp_path(path);
    let result = write_synced(&tmp, marks).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    sync_dir(path);
    Ok(())
}

/// Writes the file's JSON to `tmp` and waits until it is on disk.
fn write_synced(tmp: &Path, marks: &Watermarks) -> io::Result<()> {
    let file = StateFile {
        version: VERSION,
        watermarks: marks.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file)?;
    bytes.push(b'\n');
    let mut f = fs::File::create(tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()
}

/// Flushes the directory entry of a rename, where the OS allows it (best effort: some
/// file systems refuse, and the file itself is already whole).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `<file>.tmp`, beside the file (a rename does not cross file systems).
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Where a selector saved at `saved` resumes at `now`: there, but no earlier than
/// `now - max_catch_up`; and how much history that skips, if any.
pub(crate) fn clamp(saved: i64, now: i64, max_catch_up: Duration) -> (i64, Option<Duration>) {
    let floor = now.saturating_sub(nanos(max_catch_up));
    if saved >= floor {
        return (saved, None);
    }
    let skipped = u64::try_from(floor.saturating_sub(saved)).unwrap_or(u64::MAX);
    (floor, Some(Duration::from_nanos(skipped)))
}

/// Where each selector of `cfg` starts reading at `now`, in the order of `selectors`: its
/// saved resume point (see [`clamp`]) or, without one, `now - backfill`.
pub(crate) fn starts(cfg: &LokiConfig, now: i64) -> Vec<i64> {
    let fresh = now.saturating_sub(nanos(cfg.backfill));
    let saved = match &cfg.state_file {
        Some(path) => read_or_report(path, cfg),
        None => Watermarks::new(),
    };
    let unknown: Vec<&String> = saved
        .keys()
        .filter(|s| !cfg.selectors.contains(s))
        .collect();
    if !unknown.is_empty() {
        tracing::info!("state file: ignoring selectors no longer configured: {unknown:?}");
    }
    cfg.selectors
        .iter()
        .map(|s| match saved.get(s) {
            Some(&mark) => resume_point(s, mark, now, cfg).unwrap_or(fresh),
            None if saved.is_empty() => fresh,
            None => {
                tracing::info!(
                    "{s}: not in the state file; reading {:?} back",
                    cfg.backfill
                );
                fresh
            }
        })
        .collect()
}

/// The file's resume points, or none when it is missing or unusable (logged either way).
fn read_or_report(path: &Path, cfg: &LokiConfig) -> Watermarks {
    let backfill = cfg.backfill;
    match load(path) {
        Ok(Some(marks)) => marks,
        Ok(None) => {
            tracing::info!(
                "no state file {} yet (first run): reading {backfill:?} back (loki.backfill)",
                path.display()
            );
            Watermarks::new()
        }
        Err(e) => {
            tracing::warn!(
                "{e}; ignoring it and reading {backfill:?} back (loki.backfill): lines logged \
                 since the last run may be missed or scored twice"
            );
            Watermarks::new()
        }
    }
}

/// Where `selector`, saved at `mark`, resumes; `None` for a point in the future (the
/// clock went back, or the file is not this service's), which is not trusted.
fn resume_point(selector: &str, mark: i64, now: i64, cfg: &LokiConfig) -> Option<i64> {
    if mark > now {
        tracing::warn!(
            "{selector}: the state file's resume point is {} in the future (clock changed?); \
             reading {:?} back instead (loki.backfill)",
            human(Duration::from_nanos(mark.abs_diff(now))),
            cfg.backfill
        );
        return None;
    }
    let (start, skipped) = clamp(mark, now, cfg.max_catch_up);
    let behind = human(Duration::from_nanos(now.abs_diff(mark)));
    match skipped {
        Some(skipped) => tracing::warn!(
            "{selector}: the last run stopped {behind} ago, more than loki.max_catch_up ({}): \
             skipping the oldest {} of logs",
            human(cfg.max_catch_up),
            human(skipped)
        ),
        None => tracing::info!("{selector}: resuming where the last run stopped, {behind} ago"),
    }
    Some(start)
}

/// A duration to the second, as `1h 2m 3s`.
fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
}

/// Keeps the state file current: writes it when the resume points moved, and warns once
/// per streak of failed writes (reading goes on; a restart would resume earlier).
#[derive(Debug)]
pub(crate) struct Saver {
    /// The state file.
    path: PathBuf,
    /// What this run last wrote to it.
    saved: Option<Watermarks>,
    /// Whether the last write failed, so its warning is not repeated every few seconds.
    failing: bool,
}

impl Saver {
    /// A saver of `path` that has written nothing yet.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            saved: None,
            failing: false,
        }
    }

    /// Writes `marks` unless the file holds them already; returns whether it does now.
    pub(crate) fn save(&mut self, marks: &Watermarks) -> bool {
        if self.saved.as_ref() == Some(marks) {
            return true;
        }
        match write(&self.path, marks) {
            Ok(()) => {
                if self.failing {
                    tracing::info!("state file {} written again", self.path.display());
                }
                self.failing = false;
                self.saved = Some(marks.clone());
                true
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(
                        "{e}; reading goes on and the write is retried every {SAVE_EVERY:?}, \
                         but a restart now would resume from an older point"
                    );
                }
                self.failing = true;
                false
            }
        }
    }

    /// The last save, on shutdown: says where a restart will resume.
    pub(crate) fn finish(&mut self, marks: &Watermarks) {
        let saved = self.save(marks);
        let path = self.path.display();
        if saved {
            tracing::info!("stopped; {path} holds where a restart resumes");
        } else {
            tracing::warn!("stopped without saving {path}: a restart resumes from an older point");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn marks(pairs: &[(&str, i64)]) -> Watermarks {
        pairs.iter().map(|(s, t)| (s.to_string(), *t)).collect()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn written_marks_read_back_and_no_tmp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let m = marks(&[
            (r#"{namespace="shop"}"#, 1_700_000_000_123_456_789),
            ("{a=\"b\"} |= \"x\"", -5),
        ]);
        write(&path, &m).unwrap();
        assert_eq!(load(&path).unwrap(), Some(m.clone()));
        let newer = marks(&[(r#"{namespace="shop"}"#, 1_700_000_000_999_999_999)]);
        write(&path, &newer).unwrap();
        assert_eq!(load(&path).unwrap(), Some(newer));
        assert_eq!(files_in(dir.path()), ["state.json"]);
        let text = fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 1);
    }

    #[test]
    fn a_missing_file_is_a_first_run() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(&dir.path().join("nothing.json")).unwrap(), None);
    }

    fn load_bytes(bytes: &[u8]) -> StateError {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, bytes).unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("state.json"), "names the file: {e}");
        e
    }

    #[test]
    fn corrupt_files_are_errors_that_name_the_file() {
        let whole = br#"{"version":1,"watermarks":{"{a=\"b\"}":12}}"#;
        let truncated = &whole[..whole.len() - 3];
        assert!(matches!(load_bytes(truncated), StateError::Corrupt { .. }));
        assert!(matches!(load_bytes(b""), StateError::Corrupt { .. }));
        assert!(matches!(
            load_bytes(b"\xff\xfe\x00{"),
            StateError::Corrupt { .. }
        ));
        let e = load_bytes(br#"{"version":1,"watermarks":{"{a=\"b\"}":"12"}}"#);
        assert!(matches!(e, StateError::Corrupt { .. }), "{e:?}");
        let e = load_bytes(br#"{"watermarks":{}}"#);
        assert!(e.to_string().contains("no version"), "{e}");
        let e = load_bytes(br#"{"version":2,"marks":[]}"#);
        assert!(matches!(e, StateError::Version { found: 2, .. }), "{e:?}");
    }

    #[test]
    fn a_directory_is_a_read_error_and_a_failed_write_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(matches!(e, StateError::Read { .. }), "{e:?}");
        let into_dir = dir.path().join("sub");
        fs::create_dir(&into_dir).unwrap();
        let e = write(&into_dir, &marks(&[("{a=\"b\"}", 1)])).unwrap_err();
        assert!(matches!(e, StateError::Write { .. }), "{e:?}");
        assert_eq!(files_in(dir.path()), ["sub"]);
    }

    #[test]
    fn clamp_keeps_recent_points_and_brings_old_ones_forward() {
        let now = 1000 * MIN;
        let hour = Duration::from_secs(3600);
        assert_eq!(clamp(now - 59 * MIN, now, hour), (now - 59 * MIN, None));
        assert_eq!(clamp(now - 60 * MIN, now, hour), (now - 60 * MIN, None));
        let (start, skipped) = clamp(now - 24 * 60 * MIN, now, hour);
        assert_eq!(start, now - 60 * MIN);
        assert_eq!(skipped, Some(Duration::from_secs(23 * 3600)));
        assert_eq!(clamp(i64::MIN, now, hour).0, now - 60 * MIN);
    }

    fn config(selectors: &[&str], state_file: Option<PathBuf>) -> LokiConfig {
        let mut c = LokiConfig::new("http://l");
        c.selectors = selectors.iter().map(|s| s.to_string()).collect();
        c.backfill = Duration::from_secs(15 * 60);
        c.max_catch_up = Duration::from_secs(3600);
        c.state_file = state_file;
        c
    }

    #[test]
    fn starts_resume_known_selectors_and_backfill_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let now = 1000 * MIN;
        let saved = marks(&[
            ("{a=\"1\"}", now - 5 * MIN),
            ("{a=\"2\"}", now - 300 * MIN),
            ("{gone=\"x\"}", now - MIN),
            ("{a=\"4\"}", now + MIN),
        ]);
        write(&path, &saved).unwrap();
        let sel = ["{a=\"1\"}", "{a=\"2\"}", "{a=\"3\"}", "{a=\"4\"}"];
        let got = starts(&config(&sel, Some(path)), now);
        let fresh = now - 15 * MIN;
        assert_eq!(got, [now - 5 * MIN, now - 60 * MIN, fresh, fresh]);
        assert_eq!(starts(&config(&sel, None), now), [fresh; 4]);
    }

    #[test]
    fn starts_fall_back_to_backfill_on_a_missing_or_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let now = 1000 * MIN;
        let cfg = config(&["{a=\"1\"}"], Some(path.clone()));
        assert_eq!(starts(&cfg, now), [now - 15 * MIN]);
        fs::write(&path, br#"{"version":1,"watermarks":{"{a=\"1\"}":"#).unwrap();
        assert_eq!(starts(&cfg, now), [now - 15 * MIN]);
    }

    #[test]
    fn the_saver_writes_changes_only_and_recovers_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut saver = Saver::new(path.clone());
        let m = marks(&[("{a=\"1\"}", 10)]);
        assert!(saver.save(&m));
        fs::remove_file(&path).unwrap();
        assert!(saver.save(&m), "unchanged marks are not written again");
        assert!(!path.exists());
        fs::create_dir(&path).unwrap();
        let moved = marks(&[("{a=\"1\"}", 20)]);
        assert!(!saver.save(&moved), "a directory in the way");
        fs::remove_dir(&path).unwrap();
        assert!(saver.save(&moved));
        assert_eq!(load(&path).unwrap(), Some(moved));
    }
}
