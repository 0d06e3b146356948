//! Which other workload a pod's anomalous lines blame.
//!
//! A pod whose calls fail (`No instances available for ts-basic-service`, `GET
//! http://payments-api:8080/… 503`) is often the victim, not the cause. When its anomalous
//! lines name another workload of the cluster, the alert says which, so the on-call
//! engineer looks there first. Only names of workloads seen in the cluster count, as
//! whole words, so ordinary words and IP addresses never do.

use std::collections::{HashMap, HashSet};

/// A pod's workload: its name without the pod suffix (`-46997`), the ReplicaSet's
/// pod-template hash (`-5dc8d4f9fd`) or a StatefulSet ordinal (`-0`), e.g.
/// `ts-basic-service-5dc8d4f9fd-46997` -> `ts-basic-service`.
pub fn workload_of(pod: &str) -> &str {
    let Some((head, last)) = pod.rsplit_once('-') else {
        return pod;
    };
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) && last.len() <= 4 {
        return head; // StatefulSet ordinal
    }
    if last.len() != 5 || !is_alnum(last) {
        return pod;
    }
    match head.rsplit_once('-') {
        Some((name, hash)) if looks_like_hash(hash) => name,
        _ => head,
    }
}

/// Whether `line` is logged at info level or below (by its level field or word).
pub(crate) fn is_informational(line: &str) -> bool {
    use loganomaly_model::normalise::{normalise, Level, Tokens};
    let mut tokens = Tokens::new();
    normalise(line, &mut tokens);
    matches!(tokens.level, Level::Debug | Level::Info)
}

fn is_alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A pod-template hash: 6 to 10 lower-case letters and digits, at least one a digit.
fn looks_like_hash(s: &str) -> bool {
    (6..=10).contains(&s.len()) && is_alnum(s) && s.bytes().any(|b| b.is_ascii_digit())
}

/// The workloads of a cluster, from its pods' names: what a pod's lines may blame.
#[derive(Debug, Default)]
pub struct Workloads<'a>(HashSet<&'a str>);

impl<'a> Workloads<'a> {
    /// The workloads of `pods` (pod names).
    pub fn of(pods: impl IntoIterator<Item = &'a str>) -> Self {
        Self(pods.into_iter().map(workload_of).collect())
    }

    /// The workload other than `pod`'s own that `lines` name most often (a line counts
    /// once per workload); `None` when they name none.
    pub fn named_by<'l>(
        &self,
        pod: &str,
        lines: impl IntoIterator<Item = &'l str>,
    ) -> Option<String> {
        let own = workload_of(pod);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for line in lines {
            // an info or debug line that mentions a workload (`config=serviceMonitor/
            // shop/search/0`) reports, it does not blame
            if is_informational(line) {
                continue;
            }
            let words: HashSet<&str> = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .collect();
            for w in words {
                if w != own {
                    if let Some(&known) = self.0.get(w) {
                        *counts.entry(known).or_default() += 1;
                    }
                }
            }
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(w, _)| w.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16, finding 13: an info line that merely mentions a workload blames none.
    #[test]
    fn finding_13_info_lines_that_mention_a_workload_name_no_dependency() {
        let w = Workloads::of(["search-7c9f8d6b5-x2k4p", "cart-0", "prometheus-k8s-0"]);
        let info = [
            r#"ts=2023-11-14T23:00:01Z level=info component=discovery msg="loaded" config=serviceMonitor/shop/search/0"#,
            "INFO reloading config for search",
        ];
        assert_eq!(w.named_by("prometheus-k8s-0", info), None);
        let error = [r#"level=error msg="request failed" upstream=search err="503""#];
        assert_eq!(w.named_by("cart-0", error).as_deref(), Some("search"));
    }

    #[test]
    fn workloads_drop_the_pod_suffix_hash_and_ordinal() {
        let cases = [
            ("ts-basic-service-5dc8d4f9fd-46997", "ts-basic-service"),
            ("fraud-check-79csx67pr-vv265", "fraud-check"),
            ("fluent-bit-x7k2p", "fluent-bit"),
            ("postgres-0", "postgres"),
            ("kafka-12", "kafka"),
            ("coredns", "coredns"),
            ("my-job-abc", "my-job-abc"),
            ("api-server-Q7K2P", "api-server-Q7K2P"),
        ];
        for (pod, want) in cases {
            assert_eq!(workload_of(pod), want, "{pod}");
        }
    }

    #[test]
    fn the_workload_named_most_often_other_than_its_own_is_found() {
        let workloads = Workloads::of([
            "ts-basic-service-5dc8d4f9fd-46997",
            "ts-travel-service-64469b5b48-25zj6",
            "ts-route-service-b6c59fb57-zv8dt",
        ]);
        let lines = [
            "ts-travel-service: No instances available for ts-basic-service",
            "No instances available for ts-basic-service] with root cause",
            "GET http://ts-route-service:11178/api/v1/routes 500",
            "ts-basic-service-extra is not a workload; ts-basic is not either",
        ];
        let travel = "ts-travel-service-64469b5b48-25zj6";
        let named = workloads.named_by(travel, lines);
        assert_eq!(named.as_deref(), Some("ts-basic-service"));
        assert_eq!(workloads.named_by(travel, [lines[3]]), None);
        assert_eq!(
            workloads.named_by("ts-basic-service-5dc8d4f9fd-46997", [lines[1]]),
            None,
            "its own name is no dependency"
        );
    }
}
