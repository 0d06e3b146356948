//! The human-readable evaluation report.

use std::fmt::Write;

use super::grouping::SystemGrouping;
use super::units::{Counts, UnitQuality};
use super::{Evaluation, PodAlerts, SessionSummary};
use crate::aggregate::PodWindows;
use loganomaly_model::describe;

/// Formats one evaluation as the text `loganomaly evaluate` prints.
pub fn render(e: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} ({:?} units), {} mode: trained on {} lines, scored {} lines in {:.1} s; threshold {:.4}",
        e.dataset,
        e.unit,
        e.mode.key(),
        e.train_lines,
        e.test_lines,
        e.seconds,
        e.threshold
    );
    if e.skipped > 0 {
        let _ = writeln!(
            s,
            "  skipped    {} input lines that fit no unit (no block id or too few fields)",
            e.skipped
        );
    }
    let _ = writeln!(
        s,
        "  lines      {:.2} % of the normal test lines at or above the line threshold (contamination asked: {:.2} %)",
        100.0 * e.healthy_line_flag_rate,
        100.0 * e.settings.params.contamination
    );
    if let Some(m) = &e.sessions {
        sessions(&mut s, m);
    }
    if let Some(q) = &e.quality {
        units(&mut s, q, e.settings.params.contamination);
    }
    if let Some(p) = &e.pods {
        pods(&mut s, p, e.settings.windows);
    }
    for (i, t) in e.top.iter().enumerate() {
        let _ = writeln!(
            s,
            "  #{:<2} {:.3} {} [{}] {}\n       line: {}\n       why:  {}",
            i + 1,
            t.score,
            t.unit,
            t.label,
            t.category,
            t.line,
            describe(&t.tokens)
        );
    }
    s
}

/// Formats the grouping accuracy of each system's templates.
pub fn grouping(systems: &[SystemGrouping], mean: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Loghub-2k templates, whole lines: grouping accuracy against the labelled events"
    );
    let _ = writeln!(
        s,
        "  {:<12} {:>6} {:>7} {:>9} {:>9}",
        "SYSTEM", "LINES", "EVENTS", "TEMPLATES", "ACCURACY"
    );
    for g in systems {
        let _ = writeln!(
            s,
            "  {:<12} {:>6} {:>7} {:>9} {:>9.3}",
            g.system, g.lines, g.events, g.templates, g.accuracy
        );
    }
    let _ = writeln!(s, "  mean over {} systems: {mean:.3}", systems.len());
    s
}

fn sessions(s: &mut String, m: &SessionSummary) {
    let p = &m.params;
    let _ = writeln!(
        s,
        "  sessions   key {:?}: learnt from {} training sessions (event mix + line scores -> forest of {} trees x {}; \
         threshold at contamination {} of held-out session scores; line threshold {:.4}); scored {} test sessions, {} unlabelled",
        m.key,
        m.training_sessions,
        p.trees,
        p.subsample,
        p.contamination,
        m.line_threshold,
        m.test_sessions,
        m.unlabelled_sessions
    );
}

fn counts(c: &Counts) -> String {
    format!(
        "P {:.3} R {:.3} F1 {:.3} (tp {} fp {} fn {} tn {}; threshold {:.4})",
        c.precision, c.recall, c.f1, c.tp, c.fp, c.fn_, c.tn, c.threshold
    )
}

fn units(s: &mut String, q: &UnitQuality, contamination: f64) {
    let opt = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.4}"));
    let _ = writeln!(
        s,
        "  units      {} anomalous, {} normal; ROC-AUC {}, PR-AUC {}",
        q.positives,
        q.negatives,
        opt(q.roc_auc),
        opt(q.pr_auc)
    );
    let _ = writeln!(s, "  threshold  {}", counts(&q.at_threshold));
    let _ = writeln!(
        s,
        "  flagged    {:.2} % of the normal units at the threshold (contamination asked: {:.2} %)",
        100.0 * q.at_threshold.healthy_flag_rate(),
        100.0 * contamination
    );
    let _ = writeln!(s, "  best       {}", counts(&q.best));
}

fn pods(s: &mut String, p: &PodAlerts, w: PodWindows) {
    let _ = writeln!(
        s,
        "  windows    up to {} min for quiet pods; each pod's own rate learnt: {}",
        w.max_minutes,
        if w.learn_rate { "yes" } else { "no" }
    );
    let (vd, vn) = p.detected(|f| f.visible);
    let (cd, cn) = p.detected(|f| f.class == "code_defect");
    let (rd, rn) = p.detected(|f| f.class == "resource");
    let _ = writeln!(
        s,
        "  faults     detected: {vd}/{vn} with an error line, {cd}/{cn} code defects, {rd}/{rn} resource"
    );
    let _ = writeln!(
        s,
        "  alarms     {} false pod alerts in {:.2} h of log time: {:.2}/h{}",
        p.false_alarms,
        p.hours,
        p.false_alarms_per_hour,
        noisy(p)
    );
    let (hv, _) = p.notified(|f| f.visible);
    let (hc, _) = p.notified(|f| f.class == "code_defect");
    let (hr, _) = p.notified(|f| f.class == "resource");
    let _ = writeln!(
        s,
        "  policy     as the alert policy sends them (default [alerting.policy]): {hv}/{vn}, {hc}/{cn}, {hr}/{rn}; {} notices, {:.2} false alerts/h",
        p.policy_notices,
        p.policy_false_alerts_per_hour
    );
    for a in &p.false_alarm_list {
        let names = a
            .dependency
            .as_deref()
            .map_or(String::new(), |n| format!(", naming {n}"));
        let _ = writeln!(
            s,
            "    false alarm {:<40} {} {}{names}",
            a.pod, a.at, a.category
        );
    }
    for f in &p.faults {
        let _ = writeln!(
            s,
            "    {} {:<16} {:<40} {} error line: {:<3} peak burst {:6.1}{}",
            if f.detected { "hit " } else { "miss" },
            f.kind,
            f.pod,
            f.start,
            if f.visible { "yes" } else { "no" },
            f.peak_burst,
            if f.notified { ", notified" } else { "" }
        );
    }
}

fn noisy(p: &PodAlerts) -> String {
    if p.noisy_pods.is_empty() {
        return String::new();
    }
    let list: Vec<String> = p
        .noisy_pods
        .iter()
        .take(5)
        .map(|(pod, n)| format!("{pod} {n}"))
        .collect();
    format!(" ({})", list.join(", "))
}
