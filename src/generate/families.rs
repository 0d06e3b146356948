//! Normal (unlabelled) traffic of every log family.
//!
//! [`normal_event`] writes one event — usually one line, sometimes a short burst such as a
//! Redis background save, a DNS search-path walk or a Java WARN with its stack trace — at
//! instant `t`. Benign variety is deliberate: health checks, cache misses, GC pauses,
//! retries that succeed, slow-but-fine queries, the odd mistyped password, so that no
//! single level or keyword separates normal lines from incident lines.

use rand_xoshiro::Xoshiro256PlusPlus;

use super::apps::{logfmt_app, pino_app, spring_app, zap_app};
use super::clock::civil;
use super::datastores::{kafka, postgres, redis};
use super::edge::{coredns, envoy, ingress};
use super::platform::{
    alertmanager, config_reloader_line, controller_manager, event_exporter, grafana, grafana_agent,
    kube_proxy, loki, prometheus, scheduler,
};
use super::stream::{Ctx, Line};
use super::topology::Kind;

type Rng64 = Xoshiro256PlusPlus;

/// Writes one normal event of the stream's family at instant `t` into `out`.
pub(super) fn normal_event(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    match ctx.stream.kind {
        Kind::Ingress => ingress(ctx, rng, t, out),
        Kind::CoreDns => coredns(ctx, rng, t, out),
        Kind::KubeProxy => kube_proxy(rng, t, out),
        Kind::ControllerManager => controller_manager(ctx, rng, t, out),
        Kind::Scheduler => scheduler(rng, t, out),
        Kind::Zap(app) => zap_app(ctx, app, rng, t, out),
        Kind::Pino(app) => pino_app(ctx, app, rng, t, out),
        Kind::Spring(app) => spring_app(ctx, app, rng, t, out),
        Kind::Logfmt(app) => logfmt_app(ctx, app, rng, t, out),
        Kind::Envoy(app) => envoy(ctx, app, rng, t, out),
        Kind::Prometheus => prometheus(ctx, rng, t, out),
        Kind::ConfigReloader => out.push(Line::plain(t, config_reloader_line(&civil(t)))),
        Kind::Alertmanager => alertmanager(rng, t, out),
        Kind::GrafanaAgent => grafana_agent(ctx, rng, t, out),
        Kind::Loki => loki(rng, t, out),
        Kind::Grafana => grafana(ctx, rng, t, out),
        Kind::EventExporter => event_exporter(ctx, rng, t, out),
        Kind::Postgres { primary } => postgres(ctx, primary, rng, t, out),
        Kind::Redis => redis(rng, t, out),
        Kind::Kafka => kafka(ctx, rng, t, out),
    }
}
