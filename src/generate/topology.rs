//! The simulated cluster: six nodes, seven namespaces, ~65 pods and their containers.
//!
//! Each container is one Loki stream with a log family ([`Kind`]), a base rate (lines per
//! second at the 100 000-line default, before scaling) and a lifetime (most live the whole
//! span; the `search` rollout and the cron-job pods do not). Names, IPs and UIDs come from
//! an RNG of their own, so they depend on the seed but not on the line count.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::fake;
use super::schedule::Schedule;

/// Salt that separates the topology RNG from the stream RNGs.
const SALT: u64 = 0x70b0_10c4_0000_0002;

/// Node names (one kubeadm control-plane node, five workers).
pub(super) const NODES: [&str; 6] = [
    "k8s-cp-1",
    "k8s-worker-1",
    "k8s-worker-2",
    "k8s-worker-3",
    "k8s-worker-4",
    "k8s-worker-5",
];

/// Node InternalIP of node `i`.
pub(super) fn node_ip(i: usize) -> String {
    format!("10.0.1.{}", 10 + i)
}

/// ClusterIP of the Postgres service in `payments`.
pub(super) const POSTGRES_SVC_IP: &str = "10.96.12.34";

/// Application services with their own message catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum App {
    /// Go cart service (zap).
    Cart,
    /// Go checkout service (zap).
    Checkout,
    /// Go Kafka consumer that sends e-mails (zap); crash-loops.
    Notifier,
    /// Go fraud scoring (zap) with a gRPC client to a partner; DB and TLS incidents.
    FraudCheck,
    /// Go auth service (zap); credential-stuffing storm.
    Auth,
    /// Node.js SSR frontend (pino).
    Frontend,
    /// Node.js recommendations (pino).
    Recommendation,
    /// Spring Boot orders service; OOM.
    Orders,
    /// Spring Boot catalog service.
    Catalog,
    /// Spring Boot payments API; DB incident.
    PaymentsApi,
    /// Spring Boot ledger; DB incident.
    Ledger,
    /// Go search service (logfmt); latency incident.
    Search,
    /// Go ETL worker (logfmt).
    Etl,
    /// Go report exporter run by a CronJob (logfmt).
    ReportExport,
}

/// Log family of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// ingress-nginx controller: access log, error log and klog controller lines.
    Ingress,
    /// CoreDNS with the `log` plugin.
    CoreDns,
    /// kube-proxy (klog).
    KubeProxy,
    /// kube-controller-manager (klog).
    ControllerManager,
    /// kube-scheduler (klog).
    Scheduler,
    /// Go service logging with zap's JSON encoder.
    Zap(App),
    /// Node.js service logging with pino.
    Pino(App),
    /// Spring Boot console log.
    Spring(App),
    /// Go service logging logfmt (go-kit style).
    Logfmt(App),
    /// Istio sidecar: Envoy access log.
    Envoy(App),
    /// Prometheus (logfmt).
    Prometheus,
    /// prometheus-operator config reloader sidecar (logfmt).
    ConfigReloader,
    /// Alertmanager (logfmt).
    Alertmanager,
    /// Grafana Agent (logfmt).
    GrafanaAgent,
    /// Loki (logfmt).
    Loki,
    /// Grafana (logfmt with `logger=` first).
    Grafana,
    /// Kubernetes event exporter (one JSON event per line).
    EventExporter,
    /// PostgreSQL; `primary` is false for the streaming replica.
    Postgres {
        /// Whether this is the primary.
        primary: bool,
    },
    /// Redis.
    Redis,
    /// Kafka broker (log4j).
    Kafka,
}

/// What created a pod; decides its name shape and its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    /// Deployment pod; holds the ReplicaSet name (`cart-7d9f8c6b5`).
    ReplicaSet(String),
    /// StatefulSet pod (`postgres-0`).
    StatefulSet,
    /// DaemonSet pod (`kube-proxy-7xk2p`).
    DaemonSet,
    /// Static control-plane pod (`kube-scheduler-k8s-cp-1`).
    Static,
    /// CronJob pod; holds the Job name (`report-export-28333350`).
    Job(String),
}

/// One pod.
#[derive(Debug, Clone)]
pub(super) struct Pod {
    /// Pod name, unique in the whole cluster.
    pub name: String,
    /// Namespace.
    pub namespace: &'static str,
    /// Deployment / StatefulSet / DaemonSet / CronJob name.
    pub workload: &'static str,
    /// Creator.
    pub owner: Owner,
    /// Index into [`NODES`].
    pub node: usize,
    /// Pod IP (the node IP for host-network pods).
    pub ip: String,
    /// Pod UID.
    pub uid: String,
    /// Container image of the main container.
    pub image: &'static str,
    /// Main container's name.
    pub main_container: &'static str,
    /// Replica index within the workload (ordinal for StatefulSets).
    pub replica: usize,
    /// Lifetime `[from, to)` of the pod's containers, Unix ns.
    pub alive: (u64, u64),
}

/// One container of one pod: one Loki stream.
#[derive(Debug, Clone)]
pub(super) struct Stream {
    /// Index into [`Topology::pods`].
    pub pod: usize,
    /// Container name.
    pub container: &'static str,
    /// Log family.
    pub kind: Kind,
    /// Base rate, lines per second (relative; scaled to the requested total).
    pub rate: f64,
    /// Lifetime `[from, to)`, Unix ns.
    pub alive: (u64, u64),
    /// Containers in the pod: timestamps of this stream are `≡ ts_rem (mod ts_mod)`, so
    /// two containers of one pod never share a timestamp.
    pub ts_mod: u64,
    /// See `ts_mod`.
    pub ts_rem: u64,
}

/// The whole cluster.
#[derive(Debug, Clone)]
pub(super) struct Topology {
    /// All pods.
    pub pods: Vec<Pod>,
    /// All streams, in output order.
    pub streams: Vec<Stream>,
}

#[derive(Clone, Copy)]
enum Ctrl {
    Deployment,
    StatefulSet,
    DaemonSet,
    Static,
}

struct Workload {
    namespace: &'static str,
    name: &'static str,
    ctrl: Ctrl,
    replicas: usize,
    image: &'static str,
    host_network: bool,
    containers: &'static [(&'static str, Kind, f64)],
}

const fn w(
    namespace: &'static str,
    name: &'static str,
    ctrl: Ctrl,
    replicas: usize,
    image: &'static str,
    containers: &'static [(&'static str, Kind, f64)],
) -> Workload {
    Workload {
        namespace,
        name,
        ctrl,
        replicas,
        image,
        host_network: false,
        containers,
    }
}

const ISTIO: &str = "istio-proxy";

const WORKLOADS: &[Workload] = &[
    w(
        "ingress-nginx",
        "ingress-nginx-controller",
        Ctrl::Deployment,
        3,
        "registry.k8s.io/ingress-nginx/controller:v1.9.4",
        &[("controller", Kind::Ingress, 1.5)],
    ),
    w(
        "kube-system",
        "coredns",
        Ctrl::Deployment,
        2,
        "registry.k8s.io/coredns/coredns:v1.10.1",
        &[("coredns", Kind::CoreDns, 0.5)],
    ),
    Workload {
        host_network: true,
        ..w(
            "kube-system",
            "kube-proxy",
            Ctrl::DaemonSet,
            6,
            "registry.k8s.io/kube-proxy:v1.28.3",
            &[("kube-proxy", Kind::KubeProxy, 0.012)],
        )
    },
    Workload {
        host_network: true,
        ..w(
            "kube-system",
            "kube-controller-manager",
            Ctrl::Static,
            1,
            "registry.k8s.io/kube-controller-manager:v1.28.3",
            &[("kube-controller-manager", Kind::ControllerManager, 0.05)],
        )
    },
    Workload {
        host_network: true,
        ..w(
            "kube-system",
            "kube-scheduler",
            Ctrl::Static,
            1,
            "registry.k8s.io/kube-scheduler:v1.28.3",
            &[("kube-scheduler", Kind::Scheduler, 0.004)],
        )
    },
    w(
        "monitoring",
        "prometheus-k8s",
        Ctrl::StatefulSet,
        1,
        "quay.io/prometheus/prometheus:v2.47.2",
        &[
            ("prometheus", Kind::Prometheus, 0.03),
            ("config-reloader", Kind::ConfigReloader, 0.0),
        ],
    ),
    w(
        "monitoring",
        "alertmanager-main",
        Ctrl::StatefulSet,
        1,
        "quay.io/prometheus/alertmanager:v0.26.0",
        &[("alertmanager", Kind::Alertmanager, 0.008)],
    ),
    w(
        "monitoring",
        "grafana-agent",
        Ctrl::DaemonSet,
        6,
        "grafana/agent:v0.37.4",
        &[("grafana-agent", Kind::GrafanaAgent, 0.04)],
    ),
    w(
        "monitoring",
        "loki",
        Ctrl::StatefulSet,
        1,
        "grafana/loki:2.9.2",
        &[("loki", Kind::Loki, 0.15)],
    ),
    w(
        "monitoring",
        "grafana",
        Ctrl::Deployment,
        1,
        "grafana/grafana:10.2.1",
        &[("grafana", Kind::Grafana, 0.06)],
    ),
    w(
        "monitoring",
        "kube-event-exporter",
        Ctrl::Deployment,
        1,
        "ghcr.io/resmoio/kubernetes-event-exporter:v1.6.1",
        &[("event-exporter", Kind::EventExporter, 0.012)],
    ),
    w(
        "shop",
        "frontend",
        Ctrl::Deployment,
        3,
        "registry.example.com/shop/frontend:2.31.0",
        &[("frontend", Kind::Pino(App::Frontend), 0.6)],
    ),
    w(
        "shop",
        "cart",
        Ctrl::Deployment,
        3,
        "registry.example.com/shop/cart:1.14.2",
        &[("cart", Kind::Zap(App::Cart), 0.35)],
    ),
    w(
        "shop",
        "checkout",
        Ctrl::Deployment,
        2,
        "registry.example.com/shop/checkout:3.2.0",
        &[
            ("checkout", Kind::Zap(App::Checkout), 0.25),
            (ISTIO, Kind::Envoy(App::Checkout), 0.3),
        ],
    ),
    w(
        "shop",
        "orders",
        Ctrl::Deployment,
        2,
        "registry.example.com/shop/orders:3.4.2",
        &[("orders", Kind::Spring(App::Orders), 0.3)],
    ),
    w(
        "shop",
        "catalog",
        Ctrl::Deployment,
        2,
        "registry.example.com/shop/catalog:5.0.7",
        &[("catalog", Kind::Spring(App::Catalog), 0.25)],
    ),
    w(
        "shop",
        "search",
        Ctrl::Deployment,
        2,
        "registry.example.com/shop/search:1.9.0",
        &[("search", Kind::Logfmt(App::Search), 0.3)],
    ),
    w(
        "shop",
        "recommendation",
        Ctrl::Deployment,
        2,
        "registry.example.com/shop/recommendation:0.18.3",
        &[("recommendation", Kind::Pino(App::Recommendation), 0.2)],
    ),
    w(
        "shop",
        "notification-worker",
        Ctrl::Deployment,
        2,
        "registry.example.com/shop/notification-worker:2.8.1",
        &[("notification-worker", Kind::Zap(App::Notifier), 0.12)],
    ),
    w(
        "shop",
        "redis-cart",
        Ctrl::StatefulSet,
        1,
        "redis:7.2.3",
        &[("redis", Kind::Redis, 0.03)],
    ),
    w(
        "payments",
        "payments-api",
        Ctrl::Deployment,
        2,
        "registry.example.com/payments/payments-api:4.7.0",
        &[("payments-api", Kind::Spring(App::PaymentsApi), 0.2)],
    ),
    w(
        "payments",
        "fraud-check",
        Ctrl::Deployment,
        2,
        "registry.example.com/payments/fraud-check:1.22.0",
        &[
            ("fraud-check", Kind::Zap(App::FraudCheck), 0.15),
            (ISTIO, Kind::Envoy(App::FraudCheck), 0.15),
        ],
    ),
    w(
        "payments",
        "ledger",
        Ctrl::Deployment,
        2,
        "registry.example.com/payments/ledger:2.3.1",
        &[("ledger", Kind::Spring(App::Ledger), 0.1)],
    ),
    w(
        "payments",
        "postgres",
        Ctrl::StatefulSet,
        2,
        "postgres:15.4",
        &[("postgres", Kind::Postgres { primary: true }, 0.06)],
    ),
    w(
        "auth",
        "auth-service",
        Ctrl::Deployment,
        2,
        "registry.example.com/auth/auth-service:6.1.4",
        &[
            ("auth-service", Kind::Zap(App::Auth), 0.25),
            (ISTIO, Kind::Envoy(App::Auth), 0.25),
        ],
    ),
    w(
        "auth",
        "session-redis",
        Ctrl::StatefulSet,
        1,
        "redis:7.2.3",
        &[("redis", Kind::Redis, 0.02)],
    ),
    w(
        "data",
        "kafka",
        Ctrl::StatefulSet,
        3,
        "bitnami/kafka:3.6.0",
        &[("kafka", Kind::Kafka, 0.05)],
    ),
    w(
        "data",
        "etl-worker",
        Ctrl::Deployment,
        2,
        "registry.example.com/data/etl-worker:0.9.4",
        &[("etl-worker", Kind::Logfmt(App::Etl), 0.1)],
    ),
];

/// Image of the CronJob pods.
const REPORT_IMAGE: &str = "registry.example.com/data/report-export:1.3.0";

impl Topology {
    /// Builds the cluster for `seed`, with lifetimes taken from `sched`.
    pub fn build(seed: u64, sched: &Schedule) -> Topology {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ SALT);
        let mut t = Topology {
            pods: Vec::new(),
            streams: Vec::new(),
        };
        let full = (sched.start, sched.end);
        let mut worker = rng.gen_range(1..NODES.len());
        for wl in WORKLOADS {
            let rs = format!("{}-{}", wl.name, rs_hash(&mut rng));
            // The search Deployment is rolled out mid-span: old and new ReplicaSet.
            let generations: Vec<(String, bool)> = if wl.name == "search" {
                vec![
                    (rs, false),
                    (format!("{}-{}", wl.name, rs_hash(&mut rng)), true),
                ]
            } else {
                vec![(rs, false)]
            };
            for (rs, is_new) in &generations {
                let count = match wl.ctrl {
                    Ctrl::DaemonSet => NODES.len(),
                    _ => wl.replicas,
                };
                for replica in 0..count {
                    let (node, name, owner) = match wl.ctrl {
                        Ctrl::Deployment => {
                            worker = worker % (NODES.len() - 1) + 1;
                            let name = format!("{rs}-{}", fake::k8s_suffix(&mut rng, 5));
                            (worker, name, Owner::ReplicaSet(rs.clone()))
                        }
                        Ctrl::StatefulSet => {
                            worker = worker % (NODES.len() - 1) + 1;
                            (worker, format!("{}-{replica}", wl.name), Owner::StatefulSet)
                        }
                        Ctrl::DaemonSet => (
                            replica,
                            format!("{}-{}", wl.name, fake::k8s_suffix(&mut rng, 5)),
                            Owner::DaemonSet,
                        ),
                        Ctrl::Static => (0, format!("{}-{}", wl.name, NODES[0]), Owner::Static),
                    };
                    let alive = if wl.name == "search" {
                        if *is_new {
                            (sched.rollout.new_start[replica], sched.end)
                        } else {
                            (sched.start, sched.rollout.old_stop[replica])
                        }
                    } else {
                        full
                    };
                    let ip = if wl.host_network {
                        node_ip(node)
                    } else {
                        t.unique_ip(&mut rng, node)
                    };
                    t.push_pod(
                        &mut rng,
                        Pod {
                            name,
                            namespace: wl.namespace,
                            workload: wl.name,
                            owner,
                            node,
                            ip,
                            uid: String::new(),
                            image: wl.image,
                            main_container: wl.containers[0].0,
                            replica,
                            alive,
                        },
                        wl.containers,
                        alive,
                    );
                }
            }
        }
        const REPORT: &[(&str, Kind, f64)] =
            &[("report-export", Kind::Logfmt(App::ReportExport), 1.2)];
        for run in &sched.cron {
            let job = format!("report-export-{}", run.minute);
            worker = worker % (NODES.len() - 1) + 1;
            let ip = t.unique_ip(&mut rng, worker);
            let pod = Pod {
                name: format!("{job}-{}", fake::k8s_suffix(&mut rng, 5)),
                namespace: "data",
                workload: "report-export",
                owner: Owner::Job(job),
                node: worker,
                ip,
                uid: String::new(),
                image: REPORT_IMAGE,
                main_container: "report-export",
                replica: 0,
                alive: (run.start, run.end),
            };
            t.push_pod(&mut rng, pod, REPORT, (run.start, run.end));
        }
        t
    }

    fn unique_ip(&self, rng: &mut Xoshiro256PlusPlus, node: usize) -> String {
        loop {
            let ip = fake::pod_ip(rng, node);
            if !self.pods.iter().any(|p| p.ip == ip) {
                return ip;
            }
        }
    }

    fn push_pod(
        &mut self,
        rng: &mut Xoshiro256PlusPlus,
        mut pod: Pod,
        containers: &[(&'static str, Kind, f64)],
        alive: (u64, u64),
    ) {
        // Generated suffixes are 27^5 strong; still, never emit two pods of one name.
        while self.pods.iter().any(|p| p.name == pod.name) {
            pod.name.push_str(&fake::k8s_suffix(rng, 1));
        }
        pod.uid = fake::uuid(rng);
        let index = self.pods.len();
        let is_replica_pg = pod.workload == "postgres" && pod.replica > 0;
        self.pods.push(pod);
        for (j, (container, kind, rate)) in containers.iter().enumerate() {
            let (kind, rate) = match kind {
                Kind::Postgres { .. } if is_replica_pg => {
                    (Kind::Postgres { primary: false }, rate * 0.4)
                }
                _ => (*kind, *rate),
            };
            self.streams.push(Stream {
                pod: index,
                container,
                kind,
                rate,
                alive,
                ts_mod: containers.len() as u64,
                ts_rem: j as u64,
            });
        }
    }

    /// The pod of stream `s`.
    pub fn pod_of(&self, s: &Stream) -> &Pod {
        &self.pods[s.pod]
    }

    /// Pods of `workload` (in replica order, old ReplicaSet before new).
    pub fn pods_of<'a, 'w>(
        &'a self,
        workload: &'w str,
    ) -> impl Iterator<Item = &'a Pod> + use<'a, 'w> {
        self.pods.iter().filter(move |p| p.workload == workload)
    }

    /// The pod of `workload` with replica index `replica` (first generation).
    pub fn replica(&self, workload: &str, replica: usize) -> Option<&Pod> {
        self.pods_of(workload).find(|p| p.replica == replica)
    }

    /// A random endpoint IP of `workload` among pods alive at `t`.
    pub fn endpoint<R: Rng>(&self, rng: &mut R, workload: &str, t: u64) -> Option<&str> {
        let alive = |p: &&Pod| p.alive.0 <= t && t < p.alive.1;
        let n = self.pods_of(workload).filter(alive).count();
        if n == 0 {
            return None;
        }
        let k = rng.gen_range(0..n);
        self.pods_of(workload)
            .filter(alive)
            .nth(k)
            .map(|p| p.ip.as_str())
    }

    /// A random pod IP of any non-host-network pod (a DNS client, a probe source...).
    pub fn any_pod_ip<R: Rng>(&self, rng: &mut R) -> &str {
        let p = &self.pods[rng.gen_range(0..self.pods.len())];
        p.ip.as_str()
    }
}

/// A ReplicaSet pod-template hash (`7d9f8c6b5`): 9 or 10 safe characters.
fn rs_hash<R: Rng>(rng: &mut R) -> String {
    let n = if rng.gen_bool(0.7) { 10 } else { 9 };
    fake::k8s_suffix(rng, n)
}
