//! Completeness: paging, the lossy tail with disconnects, restarts, shards.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use loganomaly::loki::{Mode, Shard};

use super::fake::{FakeLoki, TailCmd};
use super::{assert_exactly_once, key, now_ns, quick, start, streams};

const SEC: Duration = Duration::from_secs(1);

#[tokio::test]
async fn paging_20k_entries_with_shared_nanoseconds_and_a_6000_group_delivers_each_once() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let s = streams(10);
    let base = now_ns() - 600_000_000_000;
    let mut entries = Vec::new();
    for i in 0..14_000i64 {
        // 7 entries share each nanosecond; 5000 is no multiple of 7, so pages cut groups.
        entries.push((
            s[(i % 10) as usize].clone(),
            base + (i / 7) * 1000,
            format!("line {i}"),
        ));
    }
    for j in 0..6000 {
        // More than a page at one timestamp, over three streams.
        entries.push((s[j % 3].clone(), base + 5_000_000, format!("group {j}")));
    }
    fake.push(entries);
    let expected = fake.all();
    assert_eq!(expected.len(), 20_000);

    let mut src = start(quick(&fake.url(), Mode::Poll), 1024);
    let got = src
        .collect(20_000, 60 * SEC, Duration::from_millis(500))
        .await;
    assert_exactly_once(&got, &expected);
    assert_eq!(src.stats.unpageable_groups.load(Relaxed), 0);
    assert_eq!(src.stats.lines_delivered.load(Relaxed), 20_000);
    src.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_tail_with_three_disconnects_still_delivers_100k_lines_exactly_once() {
    // The tail passes 300 entries per 100 ms and loses one in 97 anyway: some losses are
    // reported in dropped_entries, the others vanish.
    let fake = FakeLoki::start(Duration::from_millis(200), 300).await;
    let mut src = start(quick(&fake.url(), Mode::Tail), 4096);
    wait_for_tails(&fake, 1).await;
    // The scorer consumes while lines are pushed.
    let collector = tokio::spawn(async move {
        let got = src.collect(100_000, 90 * SEC, SEC).await;
        (got, src)
    });
    let s = streams(20);
    for batch in 0..400 {
        let ts = now_ns();
        let entries = (0..250)
            .map(|k| {
                let i = batch * 250 + k;
                (
                    s[i % 20].clone(),
                    ts + k as i64,
                    format!("GET /api/items/{i} 200"),
                )
            })
            .collect();
        fake.push(entries);
        match batch {
            100 => fake.tails(TailCmd::Close1011(
                "all ingesters closed the connection".into(),
            )),
            200 => fake.tails(TailCmd::Abort),
            300 => fake.tails(TailCmd::GoQuiet),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let expected = fake.all();
    assert_eq!(expected.len(), 100_000);
    let (got, src) = collector.await.unwrap();
    assert_exactly_once(&got, &expected);
    let st = &src.stats;
    assert!(
        fake.inner.tail_lost.load(Relaxed) > 0,
        "the fake tail lost nothing"
    );
    assert!(st.dropped_entries_reported.load(Relaxed) > 0);
    assert!(st.lines_recovered.load(Relaxed) > 0);
    assert!(
        st.reconnects.load(Relaxed) >= 3,
        "reconnects {}, tails {}, errors {}, last {}",
        st.reconnects.load(Relaxed),
        fake.inner.tails_opened.load(Relaxed),
        st.errors.load(Relaxed),
        st.last_error()
    );
    assert!(fake.inner.tails_opened.load(Relaxed) >= 4);
    src.stop().await.unwrap();
}

async fn wait_for_tails(fake: &FakeLoki, n: u64) {
    for _ in 0..200 {
        if fake.inner.tails_opened.load(Relaxed) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no tail connected");
}

#[tokio::test]
async fn restart_of_loki_keeping_its_data_loses_and_repeats_nothing() {
    let mut fake = FakeLoki::start(Duration::from_millis(200), 1_000_000).await;
    let mut src = start(quick(&fake.url(), Mode::Tail), 1024);
    wait_for_tails(&fake, 1).await;
    let s = streams(5);
    let push = |fake: &FakeLoki, from: usize| {
        let ts = now_ns();
        let entries = (from..from + 5000)
            .map(|i| (s[i % 5].clone(), ts + i as i64, format!("line {i}")))
            .collect();
        fake.push(entries);
    };
    push(&fake, 0);
    let first = src.collect(5000, 30 * SEC, Duration::ZERO).await;
    fake.restart(Duration::from_millis(500)).await;
    push(&fake, 5000);
    let mut got = first;
    got.extend(src.collect(5000, 30 * SEC, SEC).await);
    assert_exactly_once(&got, &fake.all());
    assert!(src.stats.reconnects.load(Relaxed) >= 1);
    src.stop().await.unwrap();
}

#[tokio::test]
async fn four_shards_see_disjoint_sets_whose_union_is_everything() {
    let fake = FakeLoki::start(SEC, 1_000_000).await;
    let s = streams(40);
    let base = now_ns() - 60_000_000_000;
    let entries = (0..4000)
        .map(|i| {
            (
                s[i % 40].clone(),
                base + i as i64 * 1000,
                format!("line {i}"),
            )
        })
        .collect();
    fake.push(entries);
    let mut sources: Vec<_> = (0..4)
        .map(|i| {
            let mut cfg = quick(&fake.url(), Mode::Poll);
            cfg.shard = Shard { index: i, count: 4 };
            start(cfg, 1024)
        })
        .collect();
    // Each shard's share is unknown: collect from all four at once until they stop growing.
    let collecting: Vec<_> = sources
        .drain(..)
        .map(|mut src| {
            tokio::spawn(async move {
                let got = src.collect(4000, 3 * SEC, SEC).await;
                (got, src)
            })
        })
        .collect();
    let mut union = BTreeSet::new();
    let mut total = 0;
    for c in collecting {
        let (got, src) = c.await.unwrap();
        assert!(!got.is_empty(), "a shard of 40 streams got nothing");
        total += got.len();
        union.extend(got.iter().map(key));
        sources.push(src);
    }
    assert_eq!(total, union.len(), "shards overlap");
    assert_eq!(union, fake.all());
    for src in sources {
        assert_eq!(
            src.stats.lines_other_shards.load(Relaxed) + src.stats.lines_delivered.load(Relaxed),
            4000
        );
        src.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_slow_scorer_slows_reading_and_loses_nothing() {
    let fake = FakeLoki::start(Duration::from_millis(200), 1_000_000).await;
    // A queue of 8 lines: the source waits on it most of the time.
    let mut src = start(quick(&fake.url(), Mode::Tail), 8);
    wait_for_tails(&fake, 1).await;
    let s = streams(4);
    let ts = now_ns();
    fake.push(
        (0..3000)
            .map(|i| (s[i % 4].clone(), ts + i as i64, format!("line {i}")))
            .collect(),
    );
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + 30 * SEC;
    while got.len() < 3000 && std::time::Instant::now() < deadline {
        // 1 ms of "scoring" per 20 lines: slower than the source could deliver.
        if let Ok(Some(l)) = tokio::time::timeout(SEC, src.rx.recv()).await {
            got.push(l);
        }
        if got.len() % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    got.extend(src.collect(0, SEC, SEC).await);
    assert_exactly_once(&got, &fake.all());
    assert!(src.stats.ingest_lag_seconds() > 0.0);
    src.stop().await.unwrap();
}
