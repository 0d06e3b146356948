//! Normal lines of the platform: klog components (kube-proxy, kube-controller-manager,
//! kube-scheduler), the monitoring stack (Prometheus, Alertmanager, Grafana Agent, Loki,
//! Grafana) and the Kubernetes event exporter.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::clock::{civil, Civil, NS};
use super::fake::{self, pick};
use super::shapes::klog;
use super::stream::{Ctx, Line};

type Rng64 = Xoshiro256PlusPlus;

// ---------------------------------------------------------------- klog components

/// One kube-proxy iptables sync (two klog lines).
pub(super) fn kube_proxy(rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let msg = format!(
        "\"Reloading service iptables data\" numServices={} numEndpoints={} numFilterChains=6 numFilterRules={} numNATChains={} numNATRules={}",
        rng.gen_range(36..40),
        rng.gen_range(68..76),
        rng.gen_range(5..9),
        rng.gen_range(20..24),
        rng.gen_range(124..140)
    );
    out.push(Line::plain(t, klog(&c, 'I', 1, "proxier.go:1503", &msg)));
    let el = fake::log_normal(rng, 0.035, 0.4);
    let t2 = t + (el * NS as f64) as u64;
    let msg = format!(
        "\"SyncProxyRules complete\" elapsed=\"{}\"",
        fake::go_duration(el)
    );
    out.push(Line::plain(
        t2,
        klog(&civil(t2), 'I', 1, "proxier.go:811", &msg),
    ));
}

/// One kube-controller-manager klog line (benign endpoint-slice retry, CSR cleanup).
pub(super) fn controller_manager(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let line = if rng.gen_bool(0.8) {
        let p = &ctx.topo.pods[rng.gen_range(0..ctx.topo.pods.len())];
        let svc = if p.workload == "report-export" {
            "kafka"
        } else {
            p.workload
        };
        let ns = if p.workload == "report-export" {
            "data"
        } else {
            p.namespace
        };
        klog(
            &c,
            'W',
            1,
            "endpointslice_controller.go:310",
            &format!(
                "\"Error syncing endpoint slices for service, retrying\" key=\"{}/{}\" err=\"EndpointSlice informer cache is out of date\"",
                ns, svc
            ),
        )
    } else {
        klog(
            &c,
            'I',
            1,
            "cleaner.go:175",
            &format!(
                "\"Cleaning CSR as it is more than approvedExpiration duration old and approved.\" csr=\"csr-{}\"",
                fake::k8s_suffix(rng, 5)
            ),
        )
    };
    out.push(Line::plain(t, line));
}

/// One kube-scheduler klog line (a benign watch reconnect).
pub(super) fn scheduler(rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let what = pick(
        rng,
        &[
            "*v1.Pod",
            "*v1.Node",
            "*v1.PersistentVolumeClaim",
            "*v1.Service",
        ],
    );
    let msg = format!(
        "k8s.io/client-go/informers/factory.go:150: watch of {what} ended with: an error on the server (\"unable to decode an event from the watch stream: http2: client connection lost\") has prevented the request from succeeding"
    );
    out.push(Line::plain(t, klog(&c, 'W', 1, "reflector.go:535", &msg)));
}

// ---------------------------------------------------------------- monitoring stack

fn ulid(rng: &mut Rng64) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let tail: String = (0..22).map(|_| A[rng.gen_range(0..32)] as char).collect();
    format!("01HF{tail}")
}

/// One Prometheus logfmt line (TSDB housekeeping, benign scrape warning).
pub(super) fn prometheus(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let ts = c.iso_ms();
    let line = match fake::weighted(rng, &[(30, 0), (20, 1), (10, 2), (40, 3)]) {
        0 => format!(
            "ts={ts} caller=head.go:1298 level=info component=tsdb msg=\"Head GC completed\" caller=truncateMemory duration={}",
            fake::go_duration(fake::log_normal(rng, 0.012, 0.4))
        ),
        1 => format!(
            "ts={ts} caller=compact.go:519 level=info component=tsdb msg=\"write block\" mint={} maxt={} ulid={} duration={}",
            1_699_992_000_000u64,
            1_699_999_200_000u64,
            ulid(rng),
            fake::go_duration(fake::log_normal(rng, 1.2, 0.3))
        ),
        2 => format!(
            "ts={ts} caller=checkpoint.go:100 level=info component=tsdb msg=\"Creating checkpoint\" from_segment={} to_segment={} mint={}",
            rng.gen_range(100..120),
            rng.gen_range(120..124),
            1_699_999_200_000u64
        ),
        _ => {
            let p = &ctx.topo.pods[rng.gen_range(0..ctx.topo.pods.len())];
            format!(
                "ts={ts} caller=scrape.go:1736 level=warn component=\"scrape manager\" scrape_pool=serviceMonitor/{}/{}/0 target=http://{}:9090/metrics msg=\"Error on ingesting samples with different value but same timestamp\" num_dropped={}",
                p.namespace,
                p.workload,
                p.ip,
                rng.gen_range(1..4)
            )
        }
    };
    out.push(Line::plain(t, line));
}

/// The config-reloader's reload line.
pub(super) fn config_reloader_line(c: &Civil) -> String {
    format!(
        "level=info ts={} caller=reloader.go:374 msg=\"Reload triggered\" cfg_in=/etc/prometheus/config/prometheus.yaml.gz cfg_out=/etc/prometheus/config_out/prometheus.env.yaml watched_dirs=/etc/prometheus/rules/prometheus-k8s-rulefiles-0",
        c.rfc3339_nano()
    )
}

/// One Alertmanager logfmt line.
pub(super) fn alertmanager(rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let ts = c.iso_ms();
    let line = if rng.gen_bool(0.85) {
        let comp = pick(rng, &["silences", "nflog"]);
        format!(
            "ts={ts} caller={}.go:{} level=info component={comp} msg=\"Maintenance done\" duration={} size={}",
            if comp == "silences" { "silence" } else { "nflog" },
            if comp == "silences" { 377 } else { 349 },
            fake::go_duration(fake::log_normal(rng, 0.00004, 0.4)),
            rng.gen_range(100..3_000)
        )
    } else {
        format!(
            "ts={ts} caller=notify.go:745 level=warn component=dispatcher receiver=slack-warnings integration=slack[0] aggrGroup=\"{{}}:{{alertname=\\\"KubeHpaMaxedOut\\\"}}\" msg=\"Notify attempt failed, will retry later\" attempts=1 err=\"Post \\\"<redacted>\\\": context canceled\""
        )
    };
    out.push(Line::plain(t, line));
}

/// One Grafana Agent logfmt line (tailers, WAL, a retried push).
pub(super) fn grafana_agent(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let ts = c.rfc3339_nano();
    let p = &ctx.topo.pods[rng.gen_range(0..ctx.topo.pods.len())];
    let path = format!(
        "/var/log/pods/{}_{}_{}/{}/0.log",
        p.namespace, p.name, p.uid, p.main_container
    );
    let line = match fake::weighted(rng, &[(30, 0), (30, 1), (25, 2), (10, 3), (3, 4)]) {
        0 => format!(
            "ts={ts} caller=tailer.go:143 level=info component=logs logs_config=monitoring/grafana-agent component=tailer msg=\"tail routine: started\" path={path}"
        ),
        1 => format!(
            "ts={ts} caller=tailer.go:202 level=info component=logs logs_config=monitoring/grafana-agent component=tailer msg=\"skipping update of position for a file which does not currently exist\" path={path}"
        ),
        2 => format!(
            "ts={ts} caller=filetargetmanager.go:361 level=info component=logs logs_config=monitoring/grafana-agent msg=\"Adding target\" key=\"{}:{{container=\\\"{}\\\", namespace=\\\"{}\\\", pod=\\\"{}\\\"}}\"",
            path.replace("/0.log", "/*.log"),
            p.main_container,
            p.namespace,
            p.name
        ),
        3 => format!(
            "ts={ts} caller=wal.go:200 level=info agent=prometheus instance={} msg=\"WAL checkpoint complete\" first={} last={} duration={}",
            fake::hex(rng, 32),
            rng.gen_range(40..60),
            rng.gen_range(60..64),
            fake::go_duration(fake::log_normal(rng, 0.3, 0.4))
        ),
        _ => format!(
            "ts={ts} caller=client.go:419 level=warn component=logs logs_config=monitoring/grafana-agent component=client host=loki.monitoring.svc:3100 msg=\"error sending batch, will retry\" status=429 tenant= error=\"server returned HTTP status 429 Too Many Requests (429): Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while attempting to ingest '{}' lines totaling '{}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased\"",
            rng.gen_range(100..900),
            rng.gen_range(60_000..300_000)
        ),
    };
    out.push(Line::plain(t, line));
}

/// One Loki logfmt line (query stats, flushes, table uploads).
pub(super) fn loki(rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let ts = c.rfc3339_nano();
    let line = match fake::weighted(rng, &[(35, 0), (30, 1), (10, 2), (10, 3), (1, 4)]) {
        0 => {
            let ns = pick(rng, &["shop", "payments", "auth", "ingress-nginx", "data", "monitoring"]);
            format!(
                "level=info ts={ts} caller=metrics.go:159 component=frontend org_id=fake latency=fast query=\"sum by (pod) (rate({{namespace=\\\"{ns}\\\"}} |= \\\"error\\\" [5m]))\" query_hash={} query_type=metric range_type=range length=1h0m0s start_delta=1h0m{}s end_delta={}ms step=15s duration={} status=200 limit=1000 returned_lines=0 throughput={:.1}MB total_bytes={:.1}MB total_entries={} queue_time={}",
                rng.gen_range(1_000_000_000u64..4_000_000_000),
                rng.gen_range(0..60),
                rng.gen_range(100..900),
                fake::go_duration(fake::log_normal(rng, 0.15, 0.6)),
                rng.gen_range(20.0..400.0),
                rng.gen_range(1.0..60.0),
                rng.gen_range(1..5),
                fake::go_duration(fake::log_normal(rng, 0.0002, 0.5))
            )
        }
        1 => format!(
            "level=info ts={ts} caller=flush.go:167 msg=\"flushing stream\" user=fake fp={} immediate=false num_chunks=1 labels=\"{{container=\\\"{}\\\", namespace=\\\"{}\\\"}}\"",
            fake::hex(rng, 16),
            pick(rng, &["cart", "frontend", "controller", "coredns", "orders"]),
            pick(rng, &["shop", "ingress-nginx", "kube-system"])
        ),
        2 => format!(
            "level=info ts={ts} caller=table_manager.go:136 index-store=tsdb-2023-10-01 msg=\"uploading tables\""
        ),
        3 => format!(
            "level=info ts={ts} caller=checkpoint.go:611 msg=\"starting checkpoint\""
        ),
        _ => format!(
            "level=warn ts={ts} caller=logging.go:86 traceID={} orgID=fake msg=\"GET /loki/api/v1/tail?query=%7Bnamespace%3D%22shop%22%7D (500) 1.2ms Response: \\\"context canceled\\\"\"",
            fake::hex(rng, 16)
        ),
    };
    out.push(Line::plain(t, line));
}

/// One Grafana logfmt line.
pub(super) fn grafana(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let ts = c.rfc3339_nano();
    let line = match fake::weighted(rng, &[(40, 0), (25, 1), (10, 2), (10, 3)]) {
        0 => format!(
            "logger=ngalert.state.manager rule_uid={} org_id=1 t={ts} level=info msg=\"State manager processing evaluation results\" resultCount={}",
            fake::k8s_suffix(rng, 14),
            rng.gen_range(1..8)
        ),
        1 => format!(
            "logger=context userId={} orgId=1 uname={} t={ts} level=info msg=\"Request Completed\" method=GET path=/api/live/ws status=-1 remote_addr={} time_ms={} duration={} size=0 referer= handler=/api/live/ws",
            rng.gen_range(1..9),
            pick(rng, &["admin", "alice", "bob", "oncall"]),
            ctx.topo.any_pod_ip(rng),
            rng.gen_range(1..5),
            fake::go_duration(fake::log_normal(rng, 0.002, 0.4))
        ),
        2 => format!(
            "logger=cleanup t={ts} level=info msg=\"Completed cleanup jobs\" duration={}",
            fake::go_duration(fake::log_normal(rng, 0.012, 0.4))
        ),
        _ => format!(
            "logger=infra.usagestats t={ts} level=info msg=\"Usage stats are ready to report\""
        ),
    };
    out.push(Line::plain(t, line));
}

/// One ambient Kubernetes event: a benign readiness-probe failure or an Ingress sync.
pub(super) fn event_exporter(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    use super::events::{pod_event, Involved, KubeEvent};
    let topo = ctx.topo;
    let eligible = |p: &&super::topology::Pod| {
        matches!(p.namespace, "shop" | "payments" | "auth") && p.alive.0 <= t && t < p.alive.1
    };
    let n = topo.pods.iter().filter(eligible).count();
    let probe_pod = if n > 0 && rng.gen_bool(0.5) {
        let k = rng.gen_range(0..n);
        topo.pods.iter().filter(eligible).nth(k)
    } else {
        None
    };
    let line = if let Some(p) = probe_pod {
        // A benign readiness-probe failure on a random app pod.
        let mut e = pod_event(
            p,
            t,
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
        );
        e.count = rng.gen_range(1..4);
        e.first = t.saturating_sub(e.count as u64 * 10 * NS);
        e.json()
    } else {
        let ctrl = &topo.pods[rng.gen_range(0..3)];
        KubeEvent {
            name: format!("shop-frontend.{}", fake::hex(rng, 16)),
            namespace: "shop".into(),
            reason: "Sync",
            kind_type: "Normal",
            message: "Scheduled for sync".into(),
            involved: Involved {
                kind: "Ingress",
                namespace: "shop".into(),
                name: "shop-frontend".into(),
                uid: "6f1c2d7e-3b4a-4c5d-8e9f-0a1b2c3d4e5f".into(),
                api_version: "networking.k8s.io/v1",
                field_path: String::new(),
            },
            component: "nginx-ingress-controller",
            host: String::new(),
            count: rng.gen_range(1..30),
            first: t.saturating_sub(3_600 * NS),
            last: t,
            rv: rng.gen_range(4_000_000..5_000_000),
            instance: ctrl.name.clone(),
        }
        .json()
    };
    out.push(Line::plain(t, line));
}
