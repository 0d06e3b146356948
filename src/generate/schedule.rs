//! The cluster's timeline: when rollouts, cron jobs, config reloads and the six labelled
//! incidents happen.
//!
//! It holds instants only (no text), is computed once from the seed, and is the single
//! source of truth that lets independent streams agree: the crash-looping pod and the
//! event exporter both read the same crash times from here.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::clock::{MS, NS};
use super::config::{SPAN_SECS, START_UNIX_SECS};

/// Salt that separates the timeline's RNG from every stream's RNG.
const SALT: u64 = 0x5c4e_d01e_0000_0001;

/// Expiry (`notAfter`) of the partner's TLS certificate: midnight UTC, 2023-11-15.
pub(super) const CERT_NOT_AFTER_SECS: u64 = 1_700_006_400;

/// One run of the `report-export` CronJob.
#[derive(Debug, Clone)]
pub(super) struct CronRun {
    /// Scheduled time in minutes since the epoch (part of the Job's name).
    pub minute: u64,
    /// When the CronJob controller created the Job.
    pub created: u64,
    /// When the pod's container started.
    pub start: u64,
    /// When it exited.
    pub end: u64,
}

/// The rolling update of the `search` Deployment.
#[derive(Debug, Clone)]
pub(super) struct Rollout {
    /// Container start of new replica 0 and 1.
    pub new_start: [u64; 2],
    /// When old replica 0 and 1 were told to stop.
    pub old_stop: [u64; 2],
}

/// One crash-looping replica of `notification-worker`.
#[derive(Debug, Clone)]
pub(super) struct CrashLoop {
    /// Which replica of the Deployment.
    pub replica: usize,
    /// Instants of the panics, first one in the running container.
    pub panics: Vec<u64>,
    /// Container starts that ended in the next panic (`restarts[k]` precedes `panics[k+1]`).
    pub restarts: Vec<u64>,
    /// The first restart after the poison message was skipped: healthy from here on.
    pub recovered: u64,
}

/// The Postgres primary's restart.
#[derive(Debug, Clone)]
pub(super) struct DbOutage {
    /// `received fast shutdown request`.
    pub shutdown: u64,
    /// `database system is shut down`; the process is gone.
    pub down: u64,
    /// The new container starts.
    pub start: u64,
    /// `database system is ready to accept connections`.
    pub ready: u64,
    /// Apps stop logging connection errors (pools refilled).
    pub apps_until: u64,
}

/// One out-of-memory cycle of an `orders` replica.
#[derive(Debug, Clone)]
pub(super) struct OomCycle {
    /// Full-GC pauses as the heap fills.
    pub gc: Vec<u64>,
    /// `OutOfMemoryError`s thrown in request threads.
    pub oome: Vec<u64>,
    /// The kernel kills the container.
    pub kill: u64,
    /// Kubelet restarts it.
    pub restart: u64,
}

/// Every timed happening of the generated two hours.
#[derive(Debug, Clone)]
pub(super) struct Schedule {
    /// First instant of the span, Unix ns.
    pub start: u64,
    /// End of the span (exclusive), Unix ns.
    pub end: u64,
    /// Ingress-nginx backend reload after an Ingress change.
    pub ingress_reload: u64,
    /// Prometheus configuration reload.
    pub prom_reload: u64,
    /// `search` rolling update.
    pub rollout: Rollout,
    /// `report-export` CronJob runs.
    pub cron: Vec<CronRun>,
    /// Credential-stuffing storm window.
    pub auth: (u64, u64),
    /// The two crash-looping replicas.
    pub crash: Vec<CrashLoop>,
    /// Postgres primary restart.
    pub db: DbOutage,
    /// OOM cycles of `orders` replica 0.
    pub oom: Vec<OomCycle>,
    /// Search backend stall window.
    pub latency: (u64, u64),
    /// Expired-certificate window.
    pub novel: (u64, u64),
}

impl Schedule {
    /// The timeline for `seed`; only jitter of a few seconds depends on the seed.
    pub fn new(seed: u64) -> Schedule {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ SALT);
        let start = START_UNIX_SECS * NS;
        let span = SPAN_SECS * NS;
        let end = start + span;
        let at = |f: f64| start + (span as f64 * f) as u64;
        let mut jitter = |max_secs: f64| (rng.gen_range(0.0..max_secs) * NS as f64) as u64;

        let ingress_reload = at(0.22) + jitter(30.0);
        let prom_reload = at(0.26) + jitter(30.0);

        let r_at = at(0.30) + jitter(20.0);
        let rollout = Rollout {
            new_start: [r_at + 3 * NS + jitter(2.0), r_at + 21 * NS + jitter(2.0)],
            old_stop: [r_at + 16 * NS + jitter(2.0), r_at + 34 * NS + jitter(2.0)],
        };

        // Every 30 minutes on the hour and half hour.
        let mut cron = Vec::new();
        let mut minute = (START_UNIX_SECS / 60 / 30 + 1) * 30;
        while minute * 60 + 200 < START_UNIX_SECS + SPAN_SECS {
            let created = minute * 60 * NS + 40 * MS + jitter(0.2);
            let start_c = created + 2 * NS + jitter(1.5);
            let end_c = start_c + 40 * NS + jitter(70.0);
            cron.push(CronRun {
                minute,
                created,
                start: start_c,
                end: end_c,
            });
            minute += 30;
        }

        let auth = (at(0.42) + jitter(20.0), at(0.52));

        let crash_end = at(0.68);
        let mut crash = Vec::new();
        for replica in 0..2usize {
            let first = at(0.50) + replica as u64 * 27 * NS + jitter(5.0);
            let mut panics = vec![first];
            let mut restarts = Vec::new();
            let mut backoff = 10 * NS;
            let recovered = loop {
                let last = panics[panics.len() - 1];
                let restart = last + backoff + 500 * MS + jitter(1.0);
                if restart >= crash_end {
                    break restart;
                }
                restarts.push(restart);
                panics.push(restart + 1800 * MS + jitter(1.4));
                backoff = (backoff * 2).min(300 * NS);
            };
            crash.push(CrashLoop {
                replica,
                panics,
                restarts,
                recovered,
            });
        }

        let shutdown = at(0.60) + jitter(20.0);
        let down = shutdown + 8 * NS + jitter(2.0);
        let start_db = shutdown + 68 * NS + jitter(6.0);
        let ready = start_db + 3 * NS + jitter(2.0);
        let db = DbOutage {
            shutdown,
            down,
            start: start_db,
            ready,
            apps_until: ready + 15 * NS + jitter(10.0),
        };

        let mut oom = Vec::new();
        for f in [0.70, 0.80] {
            let c = at(f) + jitter(30.0);
            let gc = (0..8u64)
                .map(|i| c + (10 + 20 * i) * NS + jitter(6.0))
                .collect();
            let oome = (0..4u64)
                .map(|i| c + (72 + 24 * i) * NS + jitter(8.0))
                .collect();
            let kill = c + 166 * NS + jitter(4.0);
            oom.push(OomCycle {
                gc,
                oome,
                kill,
                restart: kill + 2 * NS + jitter(1.0),
            });
        }

        let latency = (at(0.78) + jitter(20.0), at(0.86));
        let novel = (CERT_NOT_AFTER_SECS * NS + 300 * MS + jitter(2.0), at(0.98));

        Schedule {
            start,
            end,
            ingress_reload,
            prom_reload,
            rollout,
            cron,
            auth,
            crash,
            db,
            oom,
            latency,
            novel,
        }
    }
}
