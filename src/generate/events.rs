//! Kubernetes events as printed by kubernetes-event-exporter's stdout receiver: one JSON
//! object per line with `metadata`, `reason`, `message`, `source`, `count`, `type` and
//! `involvedObject`.

use super::clock::civil;
use super::shapes::Obj;
use super::topology::{Pod, NODES};

/// The object an event is about.
#[derive(Debug, Clone)]
pub(super) struct Involved {
    /// `Pod`, `ReplicaSet`, `Deployment`, `Job`, `CronJob`, `Node`, `Ingress`...
    pub kind: &'static str,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Object UID.
    pub uid: String,
    /// `v1`, `apps/v1`, ...
    pub api_version: &'static str,
    /// `spec.containers{name}` for container events, else empty.
    pub field_path: String,
}

/// One Kubernetes event.
#[derive(Debug, Clone)]
pub(super) struct KubeEvent {
    /// Event object name (`<object>.<hex ns>`).
    pub name: String,
    /// Event namespace.
    pub namespace: String,
    /// `Scheduled`, `Pulled`, `BackOff`, ...
    pub reason: &'static str,
    /// `Normal` or `Warning`.
    pub kind_type: &'static str,
    /// Human message.
    pub message: String,
    /// The object.
    pub involved: Involved,
    /// Reporting component (`kubelet`, `default-scheduler`, ...).
    pub component: &'static str,
    /// Node for kubelet events, else empty.
    pub host: String,
    /// How many times the event was seen.
    pub count: u32,
    /// First occurrence, Unix ns.
    pub first: u64,
    /// Last occurrence, Unix ns.
    pub last: u64,
    /// resourceVersion of the event.
    pub rv: u64,
    /// `reportingInstance`.
    pub instance: String,
}

impl KubeEvent {
    /// The exporter's JSON line.
    pub fn json(&self) -> String {
        let first = civil(self.first).rfc3339_secs();
        let last = civil(self.last).rfc3339_secs();
        let meta = Obj::new()
            .s("name", &self.name)
            .s("namespace", &self.namespace)
            .s("uid", &pseudo_uid(self.last ^ self.rv))
            .s("resourceVersion", &self.rv.to_string())
            .s("creationTimestamp", &first)
            .done();
        let mut source = Obj::new().s("component", self.component);
        if !self.host.is_empty() {
            source = source.s("host", &self.host);
        }
        let inv = &self.involved;
        let mut io = Obj::new().s("kind", inv.kind);
        if !inv.namespace.is_empty() {
            io = io.s("namespace", &inv.namespace);
        }
        io = io
            .s("name", &inv.name)
            .s("uid", &inv.uid)
            .s("apiVersion", inv.api_version)
            .s(
                "resourceVersion",
                &(self.rv - 1_000 - self.rv % 977).to_string(),
            );
        if !inv.field_path.is_empty() {
            io = io.s("fieldPath", &inv.field_path);
        }
        Obj::new()
            .raw("metadata", &meta)
            .s("reason", self.reason)
            .s("message", &self.message)
            .raw("source", &source.done())
            .s("firstTimestamp", &first)
            .s("lastTimestamp", &last)
            .n("count", self.count)
            .s("type", self.kind_type)
            .raw("eventTime", "null")
            .s("reportingComponent", self.component)
            .s("reportingInstance", &self.instance)
            .raw("involvedObject", &io.done())
            .done()
    }
}

/// A UUID-shaped id derived from a number (event UIDs need no RNG draw).
fn pseudo_uid(x: u64) -> String {
    let a = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = a.rotate_left(29) ^ 0xd6e8_feb8_6659_fd93;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// An event about a pod reported by `kubelet` (or another component, set afterwards).
pub(super) fn pod_event(
    pod: &Pod,
    t: u64,
    kind_type: &'static str,
    reason: &'static str,
    message: String,
) -> KubeEvent {
    let host = NODES[pod.node].to_string();
    KubeEvent {
        name: format!(
            "{}.{:x}",
            pod.name,
            t.wrapping_sub(t % 1_000) ^ (reason.len() as u64)
        ),
        namespace: pod.namespace.to_string(),
        reason,
        kind_type,
        message,
        involved: Involved {
            kind: "Pod",
            namespace: pod.namespace.to_string(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            api_version: "v1",
            field_path: format!("spec.containers{{{}}}", pod.main_container),
        },
        component: "kubelet",
        host: host.clone(),
        count: 1,
        first: t,
        last: t,
        rv: 4_000_000 + (t / 1_000_000) % 1_000_000,
        instance: host,
    }
}
