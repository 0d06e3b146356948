//! Isolation forest throughput: fitting on 4096 x 40 rows and scoring 100k x 40 rows, on
//! seeded uniform data.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use linfa::{traits::Fit, DatasetBase};
use loganomaly_model::iforest::IsolationForest;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const N_FEATURES: usize = 40;
const FIT_ROWS: usize = 4096;
const SCORE_ROWS: usize = 100_000;

fn data(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((rows, N_FEATURES), |_| rng.gen_range(-1.0f32..1.0))
}

fn bench(c: &mut Criterion) {
    let train = data(FIT_ROWS, 1);
    let probe = data(SCORE_ROWS, 2);
    let dataset = DatasetBase::from(train);
    let params = IsolationForest::params().seed(7);
    let model = params.fit(&dataset).expect("fit");

    let mut group = c.benchmark_group("iforest");
    group.sample_size(10);

    group.throughput(Throughput::Elements(FIT_ROWS as u64));
    group.bench_function("fit_4096x40_100trees", |b| {
        b.iter(|| params.fit(black_box(&dataset)).expect("fit"))
    });

    group.throughput(Throughput::Elements(SCORE_ROWS as u64));
    group.bench_function("score_samples_100kx40", |b| {
        b.iter(|| model.score_samples(black_box(probe.view())).expect("score"))
    });
    let mut out = vec![0.0f32; SCORE_ROWS];
    group.bench_function("score_into_100kx40", |b| {
        b.iter(|| {
            model
                .score_into(black_box(probe.view()), &mut out)
                .expect("score")
        })
    });
    let rows: Vec<&[f32]> = probe
        .rows()
        .into_iter()
        .map(|r| r.to_slice().expect("row-major"))
        .collect();
    group.bench_function("score_one_100kx40_sequential", |b| {
        b.iter(|| {
            rows.iter()
                .map(|r| model.score_one(black_box(r)).expect("score"))
                .sum::<f32>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
