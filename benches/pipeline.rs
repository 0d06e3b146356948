//! Per-stage benchmarks on the bundled sample: parse, normalise, featurise (TF-IDF +
//! projection), forest scoring, aggregation, the scoring path (score cache cold and warm)
//! and the whole replay (reader, scorer and consumer threads).

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ndarray::ArrayView2;

use loganomaly::aggregate::{AggregateParams, Aggregator};
use loganomaly::event::{LogLine, ScoredLine};
use loganomaly::input::{read, ReadOptions};
use loganomaly::replay::{run, RunOptions};
use loganomaly_model::normalise::{normalise, Tokens};
use loganomaly_model::{Scratch, DIMS};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dataset/sample-loki-logs.json");
const LINES: usize = 20_000;

fn sample_lines() -> (Vec<u8>, Vec<LogLine>) {
    let bytes = std::fs::read(SAMPLE).expect("dataset/sample-loki-logs.json is in the repo");
    let mut lines = Vec::new();
    read(
        Cursor::new(&bytes),
        Path::new(SAMPLE),
        &ReadOptions::default(),
        &mut |l| {
            lines.push(l);
            Ok(())
        },
    )
    .expect("the sample parses");
    lines.truncate(LINES);
    (bytes, lines)
}

fn stages(c: &mut Criterion) {
    let (bytes, lines) = sample_lines();
    let model = loganomaly::bundled::model().expect("bundled model loads");
    let mut g = c.benchmark_group("stages");

    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    g.bench_function("parse_sample_file", |b| {
        b.iter(|| {
            let mut n = 0u64;
            read(
                Cursor::new(&bytes),
                Path::new("s"),
                &ReadOptions::default(),
                &mut |_| {
                    n += 1;
                    Ok(())
                },
            )
            .unwrap();
            black_box(n)
        })
    });

    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(20);
    g.bench_function("normalise", |b| {
        let mut t = Tokens::new();
        b.iter(|| {
            for l in &lines {
                normalise(&l.line, &mut t);
                black_box(t.len());
            }
        })
    });

    let mut rows = vec![0.0f32; lines.len() * DIMS];
    g.bench_function("featurise", |b| {
        let mut scratch = Scratch::new();
        b.iter(|| {
            for (l, row) in lines.iter().zip(rows.chunks_exact_mut(DIMS)) {
                model.featurizer.features(&l.line, &mut scratch, row);
            }
        })
    });

    g.bench_function("forest_score", |b| {
        let view = ArrayView2::from_shape((lines.len(), DIMS), &rows).unwrap();
        let mut out = vec![0.0f32; lines.len()];
        b.iter(|| model.forest.score_into(view, &mut out).unwrap())
    });

    g.bench_function("score_batch_warm_cache", |b| {
        let mut out = Vec::new();
        b.iter(|| model.score_batch(&lines, &mut out).unwrap())
    });

    g.bench_function("score_batch_cold_cache", |b| {
        let mut out = Vec::new();
        b.iter_batched(
            // a clone is a new model value: its cache starts empty
            || model.clone(),
            |fresh| fresh.score_batch(&lines, &mut out).unwrap(),
            BatchSize::LargeInput,
        )
    });

    let scored: Vec<ScoredLine> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| ScoredLine {
            log: l.clone(),
            score: (i % 100) as f32 / 100.0,
            anomalous: i % 100 == 99,
        })
        .collect();
    g.bench_function("aggregate", |b| {
        b.iter_batched(
            || Aggregator::new(AggregateParams::default()),
            |mut agg| {
                for s in &scored {
                    agg.add(s);
                }
                agg
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The whole replay of the sample file: parse, score and consume, as `loganomaly replay`.
fn replay(c: &mut Criterion) {
    let model = std::sync::Arc::new(loganomaly::bundled::model().expect("bundled model loads"));
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("sample_file_end_to_end", |b| {
        b.iter(|| {
            let mut anomalous = 0u64;
            let opts = RunOptions::default();
            run(Path::new(SAMPLE), model.clone(), &opts, |s| {
                anomalous += u64::from(s.anomalous);
                black_box(&s);
                Ok(())
            })
            .unwrap();
            anomalous
        })
    });
    g.finish();
}

criterion_group!(benches, stages, replay);
criterion_main!(benches);
