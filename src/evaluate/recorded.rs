//! The figures recorded in the repository (`evaluation/recorded.toml`), so that detection
//! quality cannot regress silently: CI re-measures and fails when a figure falls more than
//! [`TOLERANCE`] below its recorded value (or, for false alarms, rises above it).

use std::path::Path;

use super::Evaluation;

/// How far a higher-is-better figure may fall below its recorded value.
pub const TOLERANCE: f64 = 0.02;
/// How far false alarms per hour may rise above the recorded value.
pub const ALARM_TOLERANCE: f64 = 0.25;

/// How a recorded figure is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A quality figure: may not fall more than [`TOLERANCE`].
    Higher,
    /// False alarms: may not rise more than [`ALARM_TOLERANCE`].
    Lower,
    /// A share of healthy units flagged: may not rise more than a quarter above it (plus
    /// 0.001, so that a rate near 0 may move).
    Rate,
    /// A setting of the run: must match, or the figures are not comparable.
    Setting,
}

/// One measured figure or setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Its key in the file, e.g. `f1`.
    pub name: &'static str,
    /// The measured value.
    pub value: f64,
    /// How it is compared.
    pub kind: Kind,
}

/// A quality figure, higher is better.
pub fn higher(name: &'static str, value: f64) -> Figure {
    Figure {
        name,
        value,
        kind: Kind::Higher,
    }
}

fn setting(name: &'static str, value: f64) -> Figure {
    Figure {
        name,
        value,
        kind: Kind::Setting,
    }
}

/// The figures of an evaluation that are recorded and checked, and the settings that
/// produced them.
pub fn figures(e: &Evaluation) -> Vec<Figure> {
    let mut out = vec![
        setting("train_fraction", e.settings.train_fraction),
        setting("uniform_split", e.settings.split.code()),
        setting("contamination", e.settings.params.contamination),
        setting("info_weight", f64::from(e.settings.params.info_weight)),
        setting("known_weight", f64::from(e.settings.params.known_weight)),
        setting("calibration", e.settings.params.calibration),
    ];
    out.push(Figure {
        name: "healthy_line_flag_rate",
        value: e.healthy_line_flag_rate,
        kind: Kind::Rate,
    });
    if let Some(m) = &e.sessions {
        out.push(setting("session_contamination", m.params.contamination));
        out.push(setting("session_trees", m.params.trees as f64));
        out.push(setting("session_subsample", m.params.subsample as f64));
    }
    if let Some(q) = &e.quality {
        out.push(higher("f1", q.at_threshold.f1));
        out.push(Figure {
            name: "healthy_flag_rate",
            value: q.at_threshold.healthy_flag_rate(),
            kind: Kind::Rate,
        });
        out.push(higher("best_f1", q.best.f1));
        out.extend(q.roc_auc.map(|v| higher("roc_auc", v)));
        out.extend(q.pr_auc.map(|v| higher("pr_auc", v)));
    }
    if let Some(p) = &e.pods {
        let w = e.settings.windows;
        out.push(setting("window_max_minutes", f64::from(w.max_minutes)));
        out.push(setting("learn_rate", f64::from(u8::from(w.learn_rate))));
        let share = |(d, n): (usize, usize)| if n == 0 { 1.0 } else { d as f64 / n as f64 };
        out.push(higher("visible_recall", share(p.detected(|f| f.visible))));
        out.push(higher(
            "code_defect_recall",
            share(p.detected(|f| f.class == "code_defect")),
        ));
        out.push(Figure {
            name: "false_alarms_per_hour",
            value: p.false_alarms_per_hour,
            kind: Kind::Lower,
        });
        out.push(higher(
            "policy_visible_recall",
            share(p.notified(|f| f.visible)),
        ));
        out.push(higher(
            "policy_code_defect_recall",
            share(p.notified(|f| f.class == "code_defect")),
        ));
        out.push(Figure {
            name: "policy_false_alerts_per_hour",
            value: p.policy_false_alerts_per_hour,
            kind: Kind::Lower,
        });
    }
    out
}

/// Why the recorded figures could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordedError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
}

/// Reads the recorded figures (an absent file is empty).
pub fn load(path: &Path) -> Result<toml::Table, RecordedError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse()
            .map_err(|e: toml::de::Error| RecordedError::Format {
                path: shown,
                what: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(source) => Err(RecordedError::Io {
            path: shown,
            source,
        }),
    }
}

/// The recorded value of `dataset.mode.name`, if any.
fn recorded(table: &toml::Table, dataset: &str, mode: &str, name: &str) -> Option<f64> {
    let v = table.get(dataset)?.get(mode)?.get(name)?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Regressions of `measured` against the record, one readable sentence each.
pub fn regressions(
    table: &toml::Table,
    dataset: &str,
    mode: &str,
    measured: &[Figure],
) -> Vec<String> {
    let mut out = Vec::new();
    for f in measured {
        let Some(want) = recorded(table, dataset, mode, f.name) else {
            continue;
        };
        let (bad, why) = match f.kind {
            Kind::Higher => (f.value < want - TOLERANCE, "is worse than"),
            Kind::Lower => (f.value > want + ALARM_TOLERANCE, "is worse than"),
            Kind::Rate => (f.value > want * 1.25 + 0.001, "is worse than"),
            Kind::Setting => ((f.value - want).abs() > 1e-4, "differs from"),
        };
        if bad {
            out.push(format!(
                "{dataset} {mode} {}: {:.4} {why} the recorded {want:.4}",
                f.name, f.value
            ));
        }
    }
    out
}

/// Writes `measured` into the table under `dataset.mode`, rounded to 4 decimals.
pub fn record(table: &mut toml::Table, dataset: &str, mode: &str, measured: &[Figure]) {
    let ds = table
        .entry(dataset)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(ds) = ds.as_table_mut() else { return };
    let mut figures = toml::Table::new();
    for f in measured {
        figures.insert(
            f.name.to_string(),
            toml::Value::Float((f.value * 10_000.0).round() / 10_000.0),
        );
    }
    ds.insert(mode.to_string(), toml::Value::Table(figures));
}

/// Saves the table with a header that says what the file is.
pub fn save(path: &Path, table: &toml::Table) -> Result<(), RecordedError> {
    let text = format!(
        "# Detection figures recorded by `loganomaly evaluate --record`; `.ci/run` re-measures\n\
         # them with `--check` and fails when one falls more than {TOLERANCE} below (false alarms:\n\
         # rises more than {ALARM_TOLERANCE} per hour above) its value here.\n\n{}",
        toml::to_string(table).map_err(|e| RecordedError::Format {
            path: path.display().to_string(),
            what: e.to_string(),
        })?
    );
    std::fs::write(path, text).map_err(|source| RecordedError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_beyond_the_tolerance_is_a_regression_and_within_it_is_not() {
        let mut table = toml::Table::new();
        let alarms = |value| Figure {
            name: "false_alarms_per_hour",
            value,
            kind: Kind::Lower,
        };
        let fig = |v| vec![higher("f1", v), alarms(1.0), setting("info_weight", 1.0)];
        record(&mut table, "bgl", "clean", &fig(0.90));
        assert!(regressions(&table, "bgl", "clean", &fig(0.885)).is_empty());
        let r = regressions(&table, "bgl", "clean", &fig(0.87));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].contains("bgl clean f1"), "{r:?}");
        assert!(regressions(&table, "hdfs", "clean", &fig(0.1)).is_empty());
        assert_eq!(regressions(&table, "bgl", "clean", &[alarms(1.5)]).len(), 1);
        assert!(regressions(&table, "bgl", "clean", &[alarms(1.2)]).is_empty());
        let other = regressions(&table, "bgl", "clean", &[setting("info_weight", 0.5)]);
        assert!(other[0].contains("differs from"), "{other:?}");
    }

    #[test]
    fn the_file_round_trips_and_an_absent_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        assert!(load(&path).unwrap().is_empty());
        let mut table = toml::Table::new();
        record(
            &mut table,
            "hdfs",
            "unsupervised",
            &[higher("roc_auc", 0.123456)],
        );
        save(&path, &table).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(
            recorded(&back, "hdfs", "unsupervised", "roc_auc"),
            Some(0.1235)
        );
        std::fs::write(&path, "not = [toml").unwrap();
        assert!(matches!(load(&path), Err(RecordedError::Format { .. })));
    }
}
