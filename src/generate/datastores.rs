//! Normal lines of the data stores: PostgreSQL, Redis and Kafka.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::clock::{civil, Civil, MS};
use super::fake::{self, pick};
use super::stream::{Ctx, Line};

type Rng64 = Xoshiro256PlusPlus;

// ---------------------------------------------------------------- data stores

/// A Postgres line with `log_line_prefix = '%m [%p] '`.
pub(super) fn pg(c: &Civil, pid: u32, sev: &str, msg: &str) -> String {
    format!("{} [{pid}] {sev}:  {msg}", c.postgres())
}

/// One normal event of PostgreSQL: connections, slow-but-fine statements, autovacuum.
pub(super) fn postgres(ctx: Ctx<'_>, primary: bool, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let pid = rng.gen_range(2_000..60_000);
    let (user, app) = pick(
        rng,
        &[
            ("payments", "PostgreSQL JDBC Driver"),
            ("ledger", "PostgreSQL JDBC Driver"),
            ("fraud", "fraud-check"),
        ],
    );
    match fake::weighted(
        rng,
        &[
            (40, 0),
            (25, 1),
            (10, 2),
            (if primary { 6 } else { 0 }, 3),
            (2, 4),
        ],
    ) {
        0 => {
            let host = client_host(ctx, rng, t);
            let port = fake::port(rng);
            out.push(Line::plain(
                t,
                pg(
                    &c,
                    pid,
                    "LOG",
                    &format!("connection received: host={host} port={port}"),
                ),
            ));
            let t2 = t + rng.gen_range(1..4) * MS;
            let msg = format!(
                "connection authorized: user={user} database=payments application_name={app}"
            );
            out.push(Line::plain(t2, pg(&civil(t2), pid, "LOG", &msg)));
        }
        1 => {
            let host = client_host(ctx, rng, t);
            let secs = rng.gen_range(30..4_000);
            let msg = format!(
                "disconnection: session time: {}:{:02}:{:02}.{:03} user={user} database=payments host={host} port={}",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60,
                rng.gen_range(0..1000),
                fake::port(rng)
            );
            out.push(Line::plain(t, pg(&c, pid, "LOG", &msg)));
        }
        2 => {
            // log_min_duration_statement = 1s: a slow-ish but harmless query.
            let ms = fake::log_normal(rng, 1_400.0, 0.3).max(1_000.0);
            let q = pick(
                rng,
                &[
                    "SELECT p.id, p.amount, p.status FROM payments p WHERE p.created_at >= $1 AND p.merchant_id = $2 ORDER BY p.created_at DESC LIMIT 500",
                    "SELECT count(*) FROM ledger_entries WHERE account_id = $1 AND posted_at < $2",
                    "UPDATE payment_intents SET status = $1, updated_at = now() WHERE id = $2",
                ],
            );
            let msg = format!("duration: {ms:.3} ms  execute <unnamed>: {q}");
            out.push(Line::plain(t, pg(&c, pid, "LOG", &msg)));
            out.push(Line::plain(
                t + 1,
                pg(
                    &c,
                    pid,
                    "DETAIL",
                    &format!(
                        "parameters: $1 = '{}', $2 = '{}'",
                        rng.gen_range(1..9999),
                        fake::hex(rng, 8)
                    ),
                ),
            ));
        }
        3 => {
            let table = pick(
                rng,
                &[
                    "payments",
                    "payment_intents",
                    "ledger_entries",
                    "risk_signals",
                ],
            );
            let msg = format!(
                "automatic analyze of table \"payments.public.{table}\" system usage: CPU: user: {:.2} s, system: 0.00 s, elapsed: {:.2} s",
                rng.gen_range(0.01..0.2),
                rng.gen_range(0.05..0.6)
            );
            out.push(Line::plain(t, pg(&c, pid, "LOG", &msg)));
        }
        _ => {
            let msg = "could not receive data from client: Connection reset by peer";
            out.push(Line::plain(t, pg(&c, pid, "LOG", msg)));
        }
    }
}

/// Address of a pod that talks to the payments database.
pub(super) fn client_host(ctx: Ctx<'_>, rng: &mut Rng64, t: u64) -> String {
    let w = pick(rng, &["payments-api", "ledger", "fraud-check"]);
    ctx.topo
        .endpoint(rng, w, t)
        .unwrap_or("10.244.1.20")
        .to_string()
}

/// One Redis background save (five lines from the parent and the forked child).
pub(super) fn redis(rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let child = rng.gen_range(1_000..30_000);
    let changes = pick(rng, &[100u32, 10_000]);
    let secs = if changes == 100 { 300 } else { 60 };
    let mut at = t;
    let mut push = |at: u64, pid: String, msg: String| {
        out.push(Line::plain(
            at,
            format!("{pid} {} * {msg}", civil(at).redis()),
        ));
    };
    push(
        at,
        "1:M".into(),
        format!("{changes} changes in {secs} seconds. Saving..."),
    );
    at += rng.gen_range(1..3) * MS;
    push(
        at,
        "1:M".into(),
        format!("Background saving started by pid {child}"),
    );
    at += rng.gen_range(5..60) * MS;
    push(at, format!("{child}:C"), "DB saved on disk".into());
    at += rng.gen_range(0..2) * MS + 1;
    let cow = rng.gen_range(0..3);
    push(
        at,
        format!("{child}:C"),
        format!(
            "Fork CoW for RDB: current {cow} MB, peak {cow} MB, average {} MB",
            cow / 2
        ),
    );
    at += rng.gen_range(60..120) * MS;
    push(
        at,
        "1:M".into(),
        "Background saving terminated with success".into(),
    );
}

/// One normal Kafka broker line (log4j).
pub(super) fn kafka(ctx: Ctx<'_>, rng: &mut Rng64, t: u64, out: &mut Vec<Line>) {
    let c = civil(t);
    let ts = c.log4j();
    let broker = ctx.pod.replica + 1;
    let topic = pick(
        rng,
        &[
            "order-events",
            "payment-events",
            "email-requests",
            "__consumer_offsets",
        ],
    );
    let part = rng.gen_range(0..6);
    let off = rng.gen_range(800_000..890_000u64);
    let line = match fake::weighted(rng, &[(35, 0), (30, 1), (15, 2), (20, 3)]) {
        0 => format!(
            "[{ts}] INFO [LocalLog partition={topic}-{part}, dir=/bitnami/kafka/data] Rolled new log segment at offset {off} in {} ms. (kafka.log.LocalLog)",
            rng.gen_range(0..4)
        ),
        1 => format!(
            "[{ts}] INFO [ProducerStateManager partition={topic}-{part}] Wrote producer snapshot at offset {off} with 0 producer ids in {} ms. (kafka.log.ProducerStateManager)",
            rng.gen_range(0..3)
        ),
        2 => format!(
            "[{ts}] INFO [UnifiedLog partition={topic}-{part}, dir=/bitnami/kafka/data] Deleting segment LogSegment(baseOffset={}, size={}, lastModifiedTime={}, largestRecordTimestamp=Some({})) due to retention time 604800000ms breach based on the largest record timestamp in the segment (kafka.log.UnifiedLog)",
            off - 40_000,
            rng.gen_range(1_000_000..1_073_741_824u64),
            1_699_390_000_000u64 + rng.gen_range(0..3_600_000u64),
            1_699_390_000_000u64 + rng.gen_range(0..3_600_000u64)
        ),
        _ => format!(
            "[{ts}] INFO [GroupMetadataManager brokerId={broker}] Removed 0 expired offsets in {} milliseconds. (kafka.coordinator.group.GroupMetadataManager)",
            rng.gen_range(0..3)
        ),
    };
    out.push(Line::plain(t, line));
}
