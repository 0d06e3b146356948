//! Label adapters: each public labelled data set becomes a chronological [`Corpus`].
//!
//! Every adapter keeps the line whole, as a log shipper stores it in Loki: only a data
//! set's label column is removed (BGL's first field). Headers (epoch, date, node, time,
//! process id, level) stay in the line and go through the same normaliser as in `serve`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{Corpus, EvalError, Fault, Record, Unit, UnitKind};
use crate::input::{self, parse_timestamp, ReadOptions};
use crate::quality::Labels;

/// Nanoseconds in a second.
const NS: i64 = 1_000_000_000;
/// A Nezha fault lasts three minutes (per the paper).
const FAULT_NS: i64 = 180 * NS;
/// A fault counts as detected up to this long after it ends.
pub const GRACE_NS: i64 = 60 * NS;

fn open(path: &Path) -> Result<BufReader<File>, EvalError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| EvalError::data(path, 0, format!("cannot open: {e}")))
}

/// A whole text file (these are tens of megabytes), invalid UTF-8 repaired.
pub(super) fn read_text(path: &Path) -> Result<String, EvalError> {
    let bytes =
        std::fs::read(path).map_err(|e| EvalError::data(path, 0, format!("cannot read: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The lines of `text` with their 1-based numbers.
fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l))
}

/// The rest of `line` after `n` space-separated fields.
fn after_fields(line: &str, n: usize) -> Option<&str> {
    let mut rest = line;
    for _ in 0..n {
        rest = rest.split_once(' ')?.1;
    }
    Some(rest)
}

/// BGL: one unit per line. `Label Epoch Date Node Time NodeRepeat Type Component Level
/// Content`; the label `-` is normal, anything else an alert category.
pub fn bgl(dir: &Path) -> Result<Corpus, EvalError> {
    let path = dir.join("bgl/BGL_sample_106908.log");
    let mut corpus = Corpus::new("BGL", UnitKind::Line, &path);
    let text = read_text(&path)?;
    for (n, line) in numbered(&text) {
        let fields: Vec<&str> = line.splitn(3, ' ').collect();
        let (Some(label), Some(epoch), Some(text)) =
            (fields.first(), fields.get(1), after_fields(line, 1))
        else {
            corpus.skipped += 1;
            continue;
        };
        let Ok(secs) = epoch.parse::<i64>() else {
            return Err(EvalError::data(&path, n, format!("epoch {epoch:?}")));
        };
        let unit = corpus.add_unit(Unit::new(format!("line {n}"), *label != "-", label));
        corpus.records.push(Record::new(secs * NS, unit, text));
    }
    Ok(corpus)
}

/// HDFS: one unit per block, a block being every line naming `blk_<id>`. Lines are
/// `yymmdd hhmmss pid level component: message`.
pub fn hdfs(dir: &Path) -> Result<Corpus, EvalError> {
    let path = dir.join("hdfs/HDFS_loglead_2pct.log");
    let labels = block_labels(&dir.join("hdfs/HDFS_loglead_2pct.block_labels.csv"))?;
    let mut corpus = Corpus::new("HDFS", UnitKind::Block, &path);
    let mut blocks: HashMap<String, usize> = HashMap::new();
    let text = read_text(&path)?;
    for (n, line) in numbered(&text) {
        let (Some(ts), Some(text), Some(block)) = (hdfs_time(line), Some(line), block_id(line))
        else {
            corpus.skipped += 1;
            continue;
        };
        let unit = match blocks.get(block) {
            Some(&u) => u,
            None => {
                let Some(&anomalous) = labels.get(block) else {
                    return Err(EvalError::data(&path, n, format!("{block} has no label")));
                };
                let label = if anomalous { "Anomaly" } else { "Normal" };
                let u = corpus.add_unit(Unit::new(block.to_string(), anomalous, label));
                blocks.insert(block.to_string(), u);
                u
            }
        };
        corpus.records.push(Record::new(ts, unit, text));
    }
    Ok(corpus)
}

/// `blk_<id>` in a line (the data set never names two blocks in one line).
fn block_id(line: &str) -> Option<&str> {
    let start = line.find("blk_")?;
    let rest = &line[start + 4..];
    let len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    (len > 0).then(|| &line[start..start + 4 + len])
}

/// `081109 203530` as Unix nanoseconds.
fn hdfs_time(line: &str) -> Option<i64> {
    let d = line.get(..6)?;
    let t = line.get(7..13)?;
    let s = format!(
        "20{}-{}-{}T{}:{}:{}Z",
        &d[..2],
        &d[2..4],
        &d[4..],
        &t[..2],
        &t[2..4],
        &t[4..]
    );
    parse_timestamp(&s)
}

/// `BlockId,Label` with `Normal`/`Anomaly`.
fn block_labels(path: &Path) -> Result<HashMap<String, bool>, EvalError> {
    let mut out = HashMap::new();
    let text = read_text(path)?;
    for (n, line) in numbered(&text).skip(1) {
        let Some((id, label)) = line.split_once(',') else {
            return Err(EvalError::data(path, n, "expected BlockId,Label".into()));
        };
        let anomalous = match label.trim() {
            "Anomaly" => true,
            "Normal" => false,
            other => return Err(EvalError::data(path, n, format!("label {other:?}"))),
        };
        out.insert(id.to_string(), anomalous);
    }
    Ok(out)
}

/// The bundled sample: one unit per line, anomalous when its labels file names it.
pub fn sample(path: &Path) -> Result<Corpus, EvalError> {
    let labels_path = Labels::beside(path)
        .ok_or_else(|| EvalError::data(path, 0, "no .labels.jsonl beside it".into()))?;
    let labels =
        Labels::load(&labels_path).map_err(|e| EvalError::data(&labels_path, 0, e.to_string()))?;
    let mut corpus = Corpus::new("sample", UnitKind::Line, path);
    input::read_path(path, &ReadOptions::default(), &mut |l| {
        let label = labels.get(&l.stream.pod, l.ts_ns);
        let name = format!("{} @{}", l.stream.pod, l.ts_ns);
        let unit = corpus.add_unit(Unit::new(name, label.is_some(), label.unwrap_or("-")));
        corpus.records.push(Record::new(l.ts_ns, unit, &l.line));
        Ok(())
    })
    .map_err(|e| EvalError::data(path, 0, e.to_string()))?;
    corpus.sort();
    Ok(corpus)
}

/// Nezha (TrainTicket on Kubernetes, 2023-01-29): one unit per pod; lines of the injected
/// pod from a fault's start to [`GRACE_NS`] after its end are labelled anomalous.
pub fn nezha(dir: &Path) -> Result<Corpus, EvalError> {
    let root = dir.join("k8s-nezha");
    let faults = fault_windows(&root.join("fault_windows.csv"))?;
    let mut corpus = Corpus::new("Nezha", UnitKind::PodWindow, &root);
    let mut pods: HashMap<String, usize> = HashMap::new();
    let mut seen: HashSet<(i64, u64)> = HashSet::new();
    for file in nezha_files(&root)? {
        corpus.skipped += read_nezha_csv(&file, |ts, pod, log| {
            if !seen.insert((ts, row_hash(pod, log))) {
                return;
            }
            let unit = *pods
                .entry(pod.to_string())
                .or_insert_with(|| corpus.add_unit(Unit::new(pod.to_string(), false, "pod")));
            corpus.records.push(Record::new(ts, unit, log));
        })?;
    }
    corpus.sort();
    for f in &faults {
        if let Some(&u) = pods.get(&f.pod) {
            for r in corpus.records.iter_mut() {
                if r.unit == u && r.ts_ns >= f.start_ns && r.ts_ns <= f.end_ns + GRACE_NS {
                    r.anomalous = true;
                }
            }
        }
    }
    corpus.faults = faults;
    Ok(corpus)
}

/// Identity of a row for de-duplication (minute files overlap).
fn row_hash(pod: &str, log: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (pod, log).hash(&mut h);
    h.finish()
}

/// The minute files of the fault day and the fault-free reference.
fn nezha_files(root: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut files = Vec::new();
    for sub in ["rca_data/2023-01-29/log", "construct_data/2023-01-29/log"] {
        let dir = root.join(sub);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| EvalError::data(&dir, 0, format!("cannot list: {e}")))?;
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "gz") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Calls `f(ts_ns, pod, log)` for each row of a gzip'd Nezha log CSV; returns the number
/// of rows skipped for having too few fields. A few source rows have broken quoting that
/// splits the log into more fields: those are joined back with the commas they lost.
fn read_nezha_csv(path: &Path, mut f: impl FnMut(i64, &str, &str)) -> Result<u64, EvalError> {
    let mut text = Vec::new();
    GzDecoder::new(open(path)?)
        .read_to_end(&mut text)
        .map_err(|e| EvalError::data(path, 0, format!("gzip: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_slice());
    let mut skipped = 0;
    for (i, row) in reader.byte_records().enumerate() {
        let row = row.map_err(|e| EvalError::data(path, i + 2, e.to_string()))?;
        let field = |k: usize| String::from_utf8_lossy(row.get(k).unwrap_or_default());
        let Ok(ts) = field(1).parse::<i64>() else {
            return Err(EvalError::data(path, i + 2, "TimeUnixNano".into()));
        };
        if row.len() < 8 {
            skipped += 1;
            continue;
        }
        let log: Vec<String> = (7..row.len()).map(|k| field(k).into_owned()).collect();
        f(ts, &field(3), &log.join(","));
    }
    Ok(skipped)
}

/// `fault_windows.csv`: start (UTC), injected pod, fault type and class.
fn fault_windows(path: &Path) -> Result<Vec<Fault>, EvalError> {
    let mut out = Vec::new();
    let text = read_text(path)?;
    for (n, line) in numbered(&text).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(start), Some(pod), Some(kind), Some(class)) =
            (f.get(1), f.get(3), f.get(5), f.get(6))
        else {
            return Err(EvalError::data(path, n, "too few columns".into()));
        };
        let start_ns = parse_timestamp(start)
            .ok_or_else(|| EvalError::data(path, n, format!("time {start:?}")))?;
        out.push(Fault {
            start_ns,
            end_ns: start_ns + FAULT_NS,
            pod: pod.to_string(),
            kind: kind.to_string(),
            class: class.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_and_hdfs_times() {
        let l = "081109 203530 147 INFO dfs.DataNode: Receiving block blk_-439411 src: /10.2.1.1";
        assert_eq!(block_id(l), Some("blk_-439411"));
        assert_eq!(block_id("no block here blk_"), None);
        assert_eq!(hdfs_time(l), Some(1_226_262_930 * NS));
        assert_eq!(
            after_fields(l, 3),
            Some("INFO dfs.DataNode: Receiving block blk_-439411 src: /10.2.1.1")
        );
        assert_eq!(hdfs_time("garbage"), None);
    }
}
