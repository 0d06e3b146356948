//! The fast scoring path (score cache, batches, rayon) against a straightforward reference:
//! normalise -> features -> per-row forest score, weighted by level and by whether the line
//! has an unseen token, one line at a time, nothing cached.

use std::path::Path;

use loganomaly::event::LogLine;
use loganomaly::input::{read_path, ReadOptions};
use loganomaly_model::{Model, Scratch, DIMS};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dataset/sample-loki-logs.json");

fn sample() -> Vec<LogLine> {
    let mut lines = Vec::new();
    read_path(Path::new(SAMPLE), &ReadOptions::default(), &mut |l| {
        lines.push(l);
        Ok(())
    })
    .expect("the bundled sample reads");
    lines
}

/// The score of one line the slow, obvious way.
fn reference(model: &Model, line: &str, scratch: &mut Scratch) -> f32 {
    let mut row = [0.0f32; DIMS];
    model.featurizer.features(line, scratch, &mut row);
    let score = model
        .forest
        .score_one(&row)
        .expect("the bundled forest fits");
    let tfidf = &model.featurizer.tfidf;
    let unseen = scratch.tokens.iter().any(|t| !tfidf.lookup(t).seen);
    let novelty = if unseen {
        1.0
    } else {
        model.meta.params.known_weight
    };
    score * model.level_weight(scratch.tokens.level) * novelty
}

fn assert_same(model: &Model, lines: &[LogLine], fast: &[f32], pass: &str) {
    let mut scratch = Scratch::new();
    assert_eq!(fast.len(), lines.len());
    for (i, (log, &got)) in lines.iter().zip(fast).enumerate() {
        let want = reference(model, &log.line, &mut scratch);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{pass}, line {i}: fast {got} vs reference {want}: {}",
            log.line
        );
    }
}

#[test]
fn fast_scores_equal_the_reference_for_every_sample_line() {
    let model = loganomaly::bundled::model().expect("bundled model");
    let lines = sample();
    assert_eq!(lines.len(), 100_000);
    let mut fast = Vec::new();
    // first pass fills the cache, second pass is served from it
    for pass in ["cold cache", "warm cache"] {
        let mut all = Vec::with_capacity(lines.len());
        for batch in lines.chunks(8192) {
            model.score_batch(batch, &mut fast).expect("scores");
            all.extend_from_slice(&fast);
        }
        assert_same(&model, &lines, &all, pass);
    }
}

#[test]
fn another_model_never_gets_cached_scores_of_the_first() {
    let bundled = loganomaly::bundled::model().expect("bundled model");
    let lines: Vec<LogLine> = sample().into_iter().take(5000).collect();
    let mut scores = Vec::new();
    bundled.score_batch(&lines, &mut scores).expect("scores");
    // same lines, another forest: a clone changed after cloning, as a retrain would be
    let mut other = bundled.clone();
    other.forest = {
        use linfa::traits::Fit;
        let rows = ndarray::Array2::from_shape_fn((512, DIMS), |(r, c)| ((r * 7 + c) % 13) as f32);
        loganomaly_model::iforest::IsolationForest::params()
            .seed(3)
            .fit(&linfa::DatasetBase::from(rows))
            .expect("fits")
    };
    other.score_batch(&lines, &mut scores).expect("scores");
    assert_same(&other, &lines, &scores, "other model");
}
