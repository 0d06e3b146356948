//! Fitting (parallel, per-tree seeded) and scoring (flat node arrays, chunked, tree-major) of
//! the isolation forest.

use std::borrow::Cow;
use std::sync::OnceLock;

use linfa::{traits::Fit, DatasetBase};
use ndarray::{Array1, ArrayBase, ArrayView2, Data, Ix2};
use rand::{seq::index, Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::errors::IsolationForestError;
use super::hyperparams::{IsolationForestParams, IsolationForestValidParams, MAX_DEPTH_LIMIT};

/// Euler–Mascheroni constant, as used by scikit-learn's `_average_path_length`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Rows scored by one rayon task. Large enough to amortise task overhead, small enough that a
/// chunk of rows plus one tree stay in L2 while every tree is walked over the chunk.
const CHUNK_ROWS: usize = 512;

/// `Node::feature` value that marks a leaf.
const LEAF: u32 = u32::MAX;

/// Rows walked through a tree in lockstep by the batch scorer.
const LANES: usize = 8;

/// Average path length `c(n)` of an unsuccessful search in a binary search tree built from `n`
/// points, exactly as scikit-learn's `_average_path_length`.
///
/// It normalises isolation depths (the score is `2^(-E[h(x)] / c(psi))`) and estimates the
/// depth still missing below a leaf that holds `n` training points.
/// `c(0) = c(1) = 0`, `c(2) = 1`, otherwise `2 (ln(n - 1) + gamma) - 2 (n - 1) / n`.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// One node of a tree, 24 bytes. Internal nodes send `x[feature] < value` to `left`, the rest to
/// `right`, and keep in `lo..=hi` the range of `feature` over their training rows (for the range
/// check); leaves (`feature == LEAF`) hold in `value` the precomputed path length
/// `depth + c(leaf size)`. Child indices are absolute indices into `IsolationForest::nodes`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    feature: u32,
    value: f32,
    left: u32,
    right: u32,
    #[serde(default)]
    lo: f32,
    #[serde(default)]
    hi: f32,
}

impl Node {
    fn leaf(path_length: f32) -> Self {
        Node {
            feature: LEAF,
            value: path_length,
            left: 0,
            right: 0,
            lo: 0.0,
            hi: 0.0,
        }
    }

    fn is_leaf(&self) -> bool {
        self.feature == LEAF
    }
}

/// A fitted isolation forest (Liu, Ting & Zhou, 2008).
///
/// Scores rows in `(0, 1]`, higher meaning more anomalous: `s(x) = 2^(-E[h(x)] / c(psi))`,
/// the negation of scikit-learn's `score_samples`. All trees live in one flat node array so
/// scoring is a tight, allocation-free, non-recursive loop.
///
/// Serialisable with serde. A deserialised model is checked with [`validate`](Self::validate)
/// before its first use for scoring (and scoring returns
/// [`IsolationForestError::InvalidModel`] if that fails), so a corrupt file can never make
/// scoring panic or loop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationForest {
    n_features: usize,
    subsample_size: usize,
    /// Index of each tree's root in `nodes`; tree `t` owns `roots[t]..roots[t + 1]`.
    roots: Vec<u32>,
    nodes: Vec<Node>,
    /// Whether rows outside a node's training range are isolated at that node.
    #[serde(default)]
    range_check: bool,
    /// Memoised result of `validate()`; fitted models start as valid.
    #[serde(skip)]
    checked: OnceLock<bool>,
}

impl PartialEq for IsolationForest {
    fn eq(&self, other: &Self) -> bool {
        self.n_features == other.n_features
            && self.subsample_size == other.subsample_size
            && self.roots == other.roots
            && self.nodes == other.nodes
            && self.range_check == other.range_check
    }
}

impl IsolationForest {
    /// Default hyperparameters (100 trees, 256 samples per tree, automatic depth, seed 0), the
    /// entry point for configuring and fitting a forest.
    pub fn params() -> IsolationForestParams {
        IsolationForestParams::new()
    }

    /// Number of features (columns) the model was fitted on; rows to score must match it.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees in the forest.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Effective subsample size psi per tree, `min(max_samples, n_rows)`; the score is
    /// normalised by `c(psi)`.
    pub fn subsample_size(&self) -> usize {
        self.subsample_size
    }

    /// Scores one row (length must equal [`n_features`](Self::n_features)).
    ///
    /// Gives bit-for-bit the same value as the corresponding entry of
    /// [`score_samples`](Self::score_samples). Meant for streaming one log line at a time.
    /// A non-finite value is reported as row 0.
    pub fn score_one(&self, row: &[f32]) -> Result<f32, IsolationForestError> {
        self.ensure_valid()?;
        self.check_width(row.len())?;
        if let Some((column, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(IsolationForestError::NonFinite {
                row: 0,
                column,
                value,
            });
        }
        let total = self.roots.iter().fold(0.0f64, |acc, &root| {
            acc + f64::from(path_length(&self.nodes, root, row, self.range_check))
        });
        Ok(to_score(total, self.normaliser()))
    }

    /// Scores every row of `x` in parallel (rayon, 512-row chunks) and returns one score per
    /// row in `(0, 1]`, higher meaning more anomalous.
    pub fn score_samples(&self, x: ArrayView2<f32>) -> Result<Array1<f32>, IsolationForestError> {
        let mut out = vec![0.0f32; x.nrows()];
        self.score_into(x, &mut out)?;
        Ok(Array1::from_vec(out))
    }

    /// Like [`score_samples`](Self::score_samples) but writes into a caller-provided buffer of
    /// length `x.nrows()`, so repeated scoring does not allocate (for row-major `x`; other
    /// layouts are copied once to row-major).
    ///
    /// On error the contents of `out` are unspecified. A non-finite input value is reported at
    /// the lowest row (then column) at which one occurs, independently of thread scheduling.
    pub fn score_into(
        &self,
        x: ArrayView2<f32>,
        out: &mut [f32],
    ) -> Result<(), IsolationForestError> {
        self.ensure_valid()?;
        let (n_rows, width) = x.dim();
        self.check_width(width)?;
        if out.len() != n_rows {
            return Err(IsolationForestError::OutputLengthMismatch {
                expected: n_rows,
                actual: out.len(),
            });
        }
        if n_rows == 0 {
            return Ok(());
        }
        let flat: Cow<[f32]> = match x.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(x.iter().copied().collect()),
        };
        let normaliser = self.normaliser();
        // `1 <= width <= u32::MAX` because the model is valid and `width == n_features`.
        let first_bad = flat
            .par_chunks(CHUNK_ROWS.saturating_mul(width))
            .zip(out.par_chunks_mut(CHUNK_ROWS))
            .enumerate()
            .filter_map(|(chunk, (rows, out))| {
                self.score_chunk(rows, out, chunk * CHUNK_ROWS, normaliser)
                    .err()
            })
            .min_by_key(|bad| (bad.row, bad.column));
        match first_bad {
            None => Ok(()),
            Some(bad) => Err(IsolationForestError::NonFinite {
                row: bad.row,
                column: bad.column,
                value: bad.value,
            }),
        }
    }

    /// Checks that the model is structurally sound: at least one tree and one feature, tree
    /// ranges in order, every child index inside its own tree and strictly after its parent
    /// (so there are no cycles), depth at most 64, every split feature `< n_features`, every
    /// threshold finite and every leaf value finite and within the possible range.
    ///
    /// Call after deserialising a model from outside; scoring also calls it (once) itself.
    pub fn validate(&self) -> Result<(), IsolationForestError> {
        let invalid = |msg: String| Err(IsolationForestError::InvalidModel(msg));
        if self.n_features == 0 || self.n_features > LEAF as usize {
            return invalid(format!(
                "n_features is {}, expected 1..={LEAF}",
                self.n_features
            ));
        }
        if self.subsample_size == 0 {
            return invalid("subsample_size is 0".into());
        }
        if self.roots.is_empty() {
            return invalid("the forest has no trees".into());
        }
        if self.roots.first() != Some(&0) {
            return invalid("the first tree does not start at node 0".into());
        }
        let max_leaf = MAX_DEPTH_LIMIT as f64 + average_path_length(self.subsample_size) + 1.0;
        let mut depth: Vec<u8> = Vec::new();
        for (tree, &root) in self.roots.iter().enumerate() {
            let start = root as usize;
            let end = self
                .roots
                .get(tree + 1)
                .map_or(self.nodes.len(), |&next| next as usize);
            let Some(tree_nodes) = self.nodes.get(start..end).filter(|n| !n.is_empty()) else {
                return invalid(format!(
                    "tree {tree} has an empty or out-of-range node range {start}..{end} (of {})",
                    self.nodes.len()
                ));
            };
            depth.clear();
            depth.resize(tree_nodes.len(), 0);
            for (local, node) in tree_nodes.iter().enumerate() {
                let index = start + local;
                if node.is_leaf() {
                    if !(node.value.is_finite()
                        && (0.0..=max_leaf).contains(&f64::from(node.value)))
                    {
                        return invalid(format!(
                            "leaf node {index} has an impossible path length {}",
                            node.value
                        ));
                    }
                    continue;
                }
                if node.feature as usize >= self.n_features {
                    return invalid(format!(
                        "node {index} splits on feature {} but the model has {} features",
                        node.feature, self.n_features
                    ));
                }
                if !node.value.is_finite() {
                    return invalid(format!("node {index} has a non-finite threshold"));
                }
                if !(node.lo.is_finite() && node.hi.is_finite() && node.lo <= node.hi) {
                    return invalid(format!("node {index} has an invalid training range"));
                }
                let child_depth = depth.get(local).map_or(u8::MAX, |d| d.saturating_add(1));
                if usize::from(child_depth) > MAX_DEPTH_LIMIT {
                    return invalid(format!("tree {tree} is deeper than {MAX_DEPTH_LIMIT}"));
                }
                for child in [node.left, node.right] {
                    let child = child as usize;
                    if child <= index || child >= end {
                        return invalid(format!(
                            "node {index} has child index {child} outside {}..{end}",
                            index + 1
                        ));
                    }
                    if let Some(d) = depth.get_mut(child - start) {
                        *d = (*d).max(child_depth);
                    }
                }
            }
        }
        Ok(())
    }

    /// Validates once and memoises the outcome, so every scoring entry point is protected
    /// against corrupt deserialised models at the cost of one atomic load.
    fn ensure_valid(&self) -> Result<(), IsolationForestError> {
        if *self.checked.get_or_init(|| self.validate().is_ok()) {
            Ok(())
        } else {
            self.validate()
        }
    }

    fn check_width(&self, actual: usize) -> Result<(), IsolationForestError> {
        if actual == self.n_features {
            Ok(())
        } else {
            Err(IsolationForestError::FeatureCountMismatch {
                expected: self.n_features,
                actual,
            })
        }
    }

    /// `n_trees * c(psi)`: divides the summed path lengths to give `E[h(x)] / c(psi)`.
    fn normaliser(&self) -> f64 {
        self.roots.len() as f64 * average_path_length(self.subsample_size)
    }

    /// Scores a contiguous row-major chunk of rows, tree-major so each tree's nodes stay hot
    /// in cache while all rows of the chunk go through it.
    fn score_chunk(
        &self,
        rows: &[f32],
        out: &mut [f32],
        first_row: usize,
        normaliser: f64,
    ) -> Result<(), BadValue> {
        let width = self.n_features;
        for (r, row) in rows.chunks_exact(width).enumerate() {
            if let Some((column, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(BadValue {
                    row: first_row + r,
                    column,
                    value,
                });
            }
        }
        let mut acc = [0.0f64; CHUNK_ROWS];
        let n_rows = rows.len() / width;
        let (group_acc, tail_acc) = acc.split_at_mut((n_rows - n_rows % LANES).min(CHUNK_ROWS));
        for &root in &self.roots {
            let groups = rows.chunks_exact(width * LANES);
            let tail_rows = groups.remainder().chunks_exact(width);
            for (group, a) in groups.zip(group_acc.chunks_exact_mut(LANES)) {
                path_lengths_lockstep(&self.nodes, root, group, width, a, self.range_check);
            }
            for (a, row) in tail_acc.iter_mut().zip(tail_rows) {
                *a += f64::from(path_length(&self.nodes, root, row, self.range_check));
            }
        }
        for (o, &a) in out.iter_mut().zip(acc.iter()) {
            *o = to_score(a, normaliser);
        }
        Ok(())
    }
}

/// Position and value of a non-finite input found while scoring a chunk.
struct BadValue {
    row: usize,
    column: usize,
    value: f32,
}

/// Path length of `row` through the tree rooted at `root`: edges walked plus the leaf's
/// `c(size)`; with `range_check`, depth + 1 at the first node whose training range the row's
/// value lies outside. Only called on validated models, where child indices strictly increase
/// (so the loop ends) and stay in range; the `get`s keep it panic-free regardless.
#[inline]
fn path_length(nodes: &[Node], root: u32, row: &[f32], range_check: bool) -> f32 {
    let mut i = root as usize;
    let mut depth = 0u32;
    loop {
        let Some(node) = nodes.get(i) else {
            return f32::NAN;
        };
        if node.is_leaf() {
            return node.value;
        }
        let Some(&x) = row.get(node.feature as usize) else {
            return f32::NAN;
        };
        if range_check && (x < node.lo || x > node.hi) {
            return (depth + 1) as f32;
        }
        i = if x < node.value {
            node.left
        } else {
            node.right
        } as usize;
        depth += 1;
    }
}

/// Walks `LANES` rows (`group`, row-major, `width` columns each) through one tree together,
/// adding each row's path length to `acc`. The walks are independent, so the CPU overlaps
/// their memory loads instead of waiting on one root-to-leaf chain at a time. Same
/// termination, range-check and safety argument as [`path_length`].
#[inline]
fn path_lengths_lockstep(
    nodes: &[Node],
    root: u32,
    group: &[f32],
    width: usize,
    acc: &mut [f64],
    range_check: bool,
) {
    let mut at = [root as usize; LANES];
    let mut depth = [0u32; LANES];
    // path length of a lane isolated by the range check, else NaN while it walks
    let mut isolated = [f32::NAN; LANES];
    loop {
        let mut moved = false;
        for (lane, i) in at.iter_mut().enumerate() {
            let Some(node) = nodes.get(*i) else { continue };
            if node.is_leaf() || !isolated[lane].is_nan() {
                continue;
            }
            let x = group
                .get(lane * width + node.feature as usize)
                .copied()
                .unwrap_or(f32::NAN);
            if range_check && (x < node.lo || x > node.hi) {
                isolated[lane] = (depth[lane] + 1) as f32;
                continue;
            }
            *i = if x < node.value {
                node.left
            } else {
                node.right
            } as usize;
            depth[lane] += 1;
            moved = true;
        }
        if !moved {
            break;
        }
    }
    for ((a, &i), &iso) in acc.iter_mut().zip(at.iter()).zip(isolated.iter()) {
        let length = if iso.is_nan() {
            nodes.get(i).map_or(f32::NAN, |n| n.value)
        } else {
            iso
        };
        *a += f64::from(length);
    }
}

/// Turns summed path lengths into the anomaly score `2^(-total / (n_trees c(psi)))`. With
/// `c(psi) == 0` (a single training row) nothing can be isolated and, like scikit-learn, every
/// score is 0.5.
#[inline]
fn to_score(total: f64, normaliser: f64) -> f32 {
    if normaliser > 0.0 {
        (-total / normaliser).exp2() as f32
    } else {
        0.5
    }
}

/// The RNG of tree `tree`: depends only on the seed and the tree index, so the forest is the
/// same whatever the number of threads and the order in which trees are built.
fn tree_rng(seed: u64, tree: usize) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ splitmix64(tree as u64))
}

/// SplitMix64 finaliser: spreads consecutive tree indices over the whole 64-bit seed space.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draws the `psi` training rows of one tree, without replacement (`psi <= n_rows`).
fn draw_subsample(rng: &mut Xoshiro256PlusPlus, n_rows: usize, psi: usize) -> Vec<usize> {
    index::sample(rng, n_rows, psi).into_vec()
}

/// scikit-learn's default depth limit `ceil(log2(max(psi, 2)))`, in integer arithmetic.
fn auto_max_depth(psi: usize) -> usize {
    (usize::BITS - (psi.max(2) - 1).leading_zeros()) as usize
}

impl<D: Data<Elem = f32>, T> Fit<ArrayBase<D, Ix2>, T, IsolationForestError>
    for IsolationForestValidParams
{
    type Object = IsolationForest;

    /// Fits `n_trees` isolation trees in parallel on the records of `dataset` (targets are
    /// ignored). Fails on an empty dataset, zero features or any NaN/infinite value.
    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<Self::Object, IsolationForestError> {
        fit_forest(self, dataset.records.view())
    }
}

fn fit_forest(
    params: &IsolationForestValidParams,
    x: ArrayView2<f32>,
) -> Result<IsolationForest, IsolationForestError> {
    let (n_rows, n_features) = x.dim();
    if n_rows == 0 {
        return Err(IsolationForestError::EmptyDataset);
    }
    if n_features == 0 {
        return Err(IsolationForestError::ZeroFeatures);
    }
    if n_features > LEAF as usize {
        return Err(IsolationForestError::TooLarge(format!(
            "{n_features} features; at most {LEAF} are supported"
        )));
    }
    for (row, values) in x.outer_iter().enumerate() {
        if let Some((column, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(IsolationForestError::NonFinite { row, column, value });
        }
    }

    let psi = params.max_samples().min(n_rows);
    let max_depth = params.max_depth().unwrap_or_else(|| auto_max_depth(psi));
    let n_trees = params.n_trees();
    // A tree over psi rows has at most 2 psi - 1 nodes; all node indices must fit in a u32.
    let node_budget = (2 * psi - 1).checked_mul(n_trees);
    if node_budget.is_none_or(|n| n > u32::MAX as usize) {
        return Err(IsolationForestError::TooLarge(format!(
            "{n_trees} trees of up to {} nodes exceed the 32-bit node index space",
            2 * psi - 1
        )));
    }

    let seed = params.seed();
    let range_check = params.range_check();
    let trees: Vec<Vec<Node>> = (0..n_trees)
        .into_par_iter()
        .map(|tree| build_tree(x, psi, max_depth, tree_rng(seed, tree)))
        .collect();

    let total: usize = trees.iter().map(Vec::len).sum();
    let mut nodes = Vec::with_capacity(total);
    let mut roots = Vec::with_capacity(n_trees);
    for tree in trees {
        // Cannot truncate: `total <= node_budget <= u32::MAX` was checked above.
        let offset = nodes.len() as u32;
        roots.push(offset);
        nodes.extend(tree.into_iter().map(|mut node| {
            if !node.is_leaf() {
                node.left += offset;
                node.right += offset;
            }
            node
        }));
    }

    Ok(IsolationForest {
        n_features,
        subsample_size: psi,
        roots,
        nodes,
        range_check,
        checked: OnceLock::from(true),
    })
}

/// A node waiting to be built: its slot in the tree and its rows `rows[start..end]`.
struct Pending {
    slot: usize,
    start: usize,
    end: usize,
    depth: usize,
}

/// Builds one isolation tree with tree-local child indices. The two children of a node are
/// stored next to each other, after their parent.
fn build_tree(
    x: ArrayView2<f32>,
    psi: usize,
    max_depth: usize,
    mut rng: Xoshiro256PlusPlus,
) -> Vec<Node> {
    let mut rows = draw_subsample(&mut rng, x.nrows(), psi);
    let mut features: Vec<usize> = (0..x.ncols()).collect();
    let mut nodes = Vec::with_capacity(2 * psi - 1);
    nodes.push(Node::leaf(0.0));
    let mut stack = vec![Pending {
        slot: 0,
        start: 0,
        end: psi,
        depth: 0,
    }];
    while let Some(p) = stack.pop() {
        let members = &mut rows[p.start..p.end];
        let split = if p.depth < max_depth && members.len() > 1 {
            choose_split(x, members, &mut features, &mut rng)
        } else {
            None
        };
        nodes[p.slot] = match split {
            None => Node::leaf((p.depth as f64 + average_path_length(members.len())) as f32),
            Some(Split {
                feature,
                threshold,
                lo,
                hi,
            }) => {
                let n_left = partition(members, |r| x[[r, feature]] < threshold);
                let left = nodes.len();
                nodes.push(Node::leaf(0.0));
                nodes.push(Node::leaf(0.0));
                stack.push(Pending {
                    slot: left + 1,
                    start: p.start + n_left,
                    end: p.end,
                    depth: p.depth + 1,
                });
                stack.push(Pending {
                    slot: left,
                    start: p.start,
                    end: p.start + n_left,
                    depth: p.depth + 1,
                });
                // Cannot truncate: the node budget was checked in `fit_forest`.
                Node {
                    feature: feature as u32,
                    value: threshold,
                    left: left as u32,
                    right: left as u32 + 1,
                    lo,
                    hi,
                }
            }
        };
    }
    nodes
}

/// A node's split: `x[feature] < threshold` goes left; the members spanned `lo..=hi`.
struct Split {
    feature: usize,
    threshold: f32,
    lo: f32,
    hi: f32,
}

/// Picks a feature uniformly among those not constant over `members` (by drawing features
/// without replacement until a non-constant one turns up, as scikit-learn's random splitter
/// does) and a threshold uniform in `[min, max)` of it. Returns `None` if every feature is
/// constant. The threshold satisfies `min < t <= max`, so `x < t` puts at least one row on
/// each side even when rounding to `f32` would land on `min`.
fn choose_split(
    x: ArrayView2<f32>,
    members: &[usize],
    features: &mut [usize],
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Split> {
    let d = features.len();
    for k in 0..d {
        features.swap(k, rng.gen_range(k..d));
        let feature = features[k];
        let (lo, hi) = members
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &r| {
                let v = x[[r, feature]];
                (lo.min(v), hi.max(v))
            });
        if hi > lo {
            let u: f64 = rng.gen();
            let (lo64, hi64) = (f64::from(lo), f64::from(hi));
            let mut threshold = (lo64 + u * (hi64 - lo64)) as f32;
            if threshold <= lo {
                threshold = hi;
            }
            return Some(Split {
                feature,
                threshold,
                lo,
                hi,
            });
        }
    }
    None
}

/// Moves the items for which `goes_left` holds to the front; returns how many there are.
fn partition(items: &mut [usize], mut goes_left: impl FnMut(usize) -> bool) -> usize {
    let mut n_left = 0;
    for i in 0..items.len() {
        if goes_left(items[i]) {
            items.swap(n_left, i);
            n_left += 1;
        }
    }
    n_left
}

#[cfg(test)]
mod tests {
    use super::super::errors::IsolationForestParamsError;
    use super::*;
    use crate_test_support::*;
    use linfa::ParamGuard;
    use ndarray::{Array2, Axis};

    /// Test-only helpers (data generation and a recursive reference model).
    mod crate_test_support {
        use super::*;

        pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
            Xoshiro256PlusPlus::seed_from_u64(seed)
        }

        pub fn uniform(n: usize, d: usize, seed: u64) -> Array2<f32> {
            let mut r = rng(seed);
            Array2::from_shape_fn((n, d), |_| r.gen_range(-1.0f32..1.0))
        }

        /// Standard normal via Box–Muller.
        pub fn normal(r: &mut Xoshiro256PlusPlus) -> f32 {
            let u1: f64 = 1.0 - r.gen::<f64>();
            let u2: f64 = r.gen();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        }

        pub fn fit_with(records: &Array2<f32>, params: IsolationForestParams) -> IsolationForest {
            params.fit(&DatasetBase::from(records.clone())).unwrap()
        }

        pub fn bits(scores: &Array1<f32>) -> Vec<u32> {
            scores.iter().map(|s| s.to_bits()).collect()
        }

        /// An isolation tree as a plain recursive structure, rebuilt from the flat model.
        pub enum RefTree {
            Leaf(f64),
            Split {
                feature: usize,
                threshold: f32,
                left: Box<RefTree>,
                right: Box<RefTree>,
            },
        }

        impl RefTree {
            pub fn from_flat(nodes: &[Node], i: usize) -> RefTree {
                let n = nodes[i];
                if n.feature == LEAF {
                    RefTree::Leaf(f64::from(n.value))
                } else {
                    RefTree::Split {
                        feature: n.feature as usize,
                        threshold: n.value,
                        left: Box::new(RefTree::from_flat(nodes, n.left as usize)),
                        right: Box::new(RefTree::from_flat(nodes, n.right as usize)),
                    }
                }
            }

            pub fn path_length(&self, row: &[f32]) -> f64 {
                match self {
                    RefTree::Leaf(v) => *v,
                    RefTree::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        if row[*feature] < *threshold {
                            left.path_length(row)
                        } else {
                            right.path_length(row)
                        }
                    }
                }
            }

            pub fn max_depth(&self) -> usize {
                match self {
                    RefTree::Leaf(_) => 0,
                    RefTree::Split { left, right, .. } => {
                        1 + left.max_depth().max(right.max_depth())
                    }
                }
            }
        }

        pub fn ref_trees(model: &IsolationForest) -> Vec<RefTree> {
            model
                .roots
                .iter()
                .map(|&r| RefTree::from_flat(&model.nodes, r as usize))
                .collect()
        }

        /// Reference score straight from the definition in Liu et al. (2008).
        pub fn ref_score(model: &IsolationForest, trees: &[RefTree], row: &[f32]) -> f64 {
            let mean = trees.iter().map(|t| t.path_length(row)).sum::<f64>() / trees.len() as f64;
            let c = average_path_length(model.subsample_size());
            if c == 0.0 {
                0.5
            } else {
                2f64.powf(-mean / c)
            }
        }
    }

    // ---------------------------------------------------------------- c(n)

    #[test]
    fn average_path_length_hand_computed() {
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // c(3) = 2 (ln 2 + gamma) - 4/3
        let c3 = 2.0 * (2f64.ln() + 0.577_215_664_901_532_9) - 4.0 / 3.0;
        assert!((average_path_length(3) - c3).abs() < 1e-12);
        assert!((average_path_length(3) - 1.207_392_357_6).abs() < 1e-9);
        // c(256) = 2 (ln 255 + gamma) - 2 * 255 / 256 = 10.2447709...
        assert!((average_path_length(256) - 10.244_770_920_2).abs() < 1e-8);
        assert!((average_path_length(256) - 10.2448).abs() < 1e-4);
    }

    #[test]
    fn average_path_length_is_increasing() {
        let mut prev = average_path_length(1);
        for n in 2..2000 {
            let c = average_path_length(n);
            assert!(c > prev, "c({n}) = {c} not above c({}) = {prev}", n - 1);
            prev = c;
        }
    }

    #[test]
    fn auto_depth_is_ceil_log2() {
        let cases = [
            (1, 1),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (255, 8),
            (256, 8),
            (257, 9),
        ];
        for (psi, depth) in cases {
            assert_eq!(auto_max_depth(psi), depth, "psi = {psi}");
        }
    }

    // ---------------------------------------------------------------- linfa API

    #[test]
    fn fits_through_linfa_blanket_impl_and_reports_shape() {
        let x = uniform(300, 3, 1);
        let model = IsolationForest::params()
            .seed(7)
            .fit(&DatasetBase::from(x.clone()))
            .unwrap();
        assert_eq!(model.n_features(), 3);
        assert_eq!(model.n_trees(), 100);
        assert_eq!(model.subsample_size(), 256);
        model.validate().unwrap();
        // Also fits on the checked params and on a view.
        let checked = IsolationForest::params().seed(7).check().unwrap();
        let from_view = checked.fit(&DatasetBase::from(x.view())).unwrap();
        assert_eq!(model, from_view);
    }

    #[test]
    fn invalid_params_surface_through_fit() {
        let x = uniform(10, 2, 1);
        let err = IsolationForest::params()
            .n_trees(0)
            .fit(&DatasetBase::from(x))
            .unwrap_err();
        assert!(matches!(
            err,
            IsolationForestError::Params(IsolationForestParamsError::NTrees { got: 0, .. })
        ));
    }

    // ---------------------------------------------------------------- reproducibility

    #[test]
    fn same_seed_gives_bit_identical_scores() {
        let x = uniform(2000, 5, 3);
        let a = fit_with(&x, IsolationForest::params().seed(11));
        let b = fit_with(&x, IsolationForest::params().seed(11));
        assert_eq!(a, b);
        assert_eq!(
            bits(&a.score_samples(x.view()).unwrap()),
            bits(&b.score_samples(x.view()).unwrap())
        );
    }

    #[test]
    fn different_seed_gives_different_scores() {
        let x = uniform(2000, 5, 3);
        let a = fit_with(&x, IsolationForest::params().seed(11));
        let b = fit_with(&x, IsolationForest::params().seed(12));
        let (sa, sb) = (
            a.score_samples(x.view()).unwrap(),
            b.score_samples(x.view()).unwrap(),
        );
        let differing = sa.iter().zip(sb.iter()).filter(|(p, q)| p != q).count();
        assert!(differing > 1900, "only {differing} of 2000 scores differ");
    }

    #[test]
    fn trees_differ_from_each_other() {
        let x = uniform(1000, 4, 5);
        let model = fit_with(&x, IsolationForest::params().n_trees(10));
        let root_splits: Vec<(u32, u32)> = model
            .roots
            .iter()
            .map(|&r| {
                let n = model.nodes[r as usize];
                (n.feature, n.value.to_bits())
            })
            .collect();
        for (i, a) in root_splits.iter().enumerate() {
            for b in &root_splits[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let x = uniform(3000, 6, 9);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let model = fit_with(&x, IsolationForest::params().seed(5).n_trees(64));
                let scores = model.score_samples(x.view()).unwrap();
                (model, bits(&scores))
            })
        };
        let (m1, s1) = run(1);
        let (m2, s2) = run(2);
        let (m3, s3) = run(3);
        assert_eq!(m1, m2);
        assert_eq!(m1, m3);
        assert_eq!(s1, s2);
        assert_eq!(s1, s3);
    }

    // ---------------------------------------------------------------- scorer correctness

    #[test]
    fn fast_scorer_matches_recursive_reference() {
        for (n, d, seed, params) in [
            (1500, 7, 21, IsolationForest::params().seed(1)),
            (
                700,
                2,
                22,
                IsolationForest::params().seed(2).max_samples(64),
            ),
            (
                400,
                12,
                23,
                IsolationForest::params()
                    .seed(3)
                    .max_depth(Some(3))
                    .n_trees(17),
            ),
            (
                50,
                3,
                24,
                IsolationForest::params().seed(4).max_depth(Some(64)),
            ),
        ] {
            let x = uniform(n, d, seed);
            let model = fit_with(&x, params);
            let trees = ref_trees(&model);
            let probe = uniform(1100, d, seed + 100) * 1.5f32;
            let fast = model.score_samples(probe.view()).unwrap();
            for (row, &s) in probe.outer_iter().zip(fast.iter()) {
                let r = ref_score(&model, &trees, row.as_slice().unwrap());
                assert!((f64::from(s) - r).abs() < 1e-6, "fast {s} vs reference {r}");
            }
        }
    }

    #[test]
    fn rows_exactly_at_a_threshold_go_right() {
        let x = uniform(800, 3, 25);
        let model = fit_with(&x, IsolationForest::params().seed(6).n_trees(30));
        let trees = ref_trees(&model);
        // For each internal node, a row sitting exactly on its threshold.
        let mut probes = Vec::new();
        for (k, n) in model.nodes.iter().filter(|n| !n.is_leaf()).enumerate() {
            let mut row = x.row(k % x.nrows()).to_vec();
            row[n.feature as usize] = n.value;
            probes.push(row);
        }
        let mut differs_from_left = 0;
        for row in &probes {
            let fast = model.score_one(row).unwrap();
            let r = ref_score(&model, &trees, row);
            assert!(
                (f64::from(fast) - r).abs() < 1e-6,
                "fast {fast} vs reference {r}"
            );
            let mut nudged = row.clone();
            for v in nudged.iter_mut() {
                *v = v.next_down();
            }
            differs_from_left += usize::from(model.score_one(&nudged).unwrap() != fast);
        }
        assert!(differs_from_left > probes.len() / 10);
    }

    #[test]
    fn score_one_equals_score_samples_bitwise_across_chunks() {
        let x = uniform(CHUNK_ROWS * 2 + 77, 4, 31);
        let model = fit_with(&x, IsolationForest::params().seed(3));
        let batch = model.score_samples(x.view()).unwrap();
        for (row, &s) in x.outer_iter().zip(batch.iter()) {
            let one = model.score_one(row.as_slice().unwrap()).unwrap();
            assert_eq!(one.to_bits(), s.to_bits());
        }
    }

    #[test]
    fn score_into_matches_score_samples_and_layouts_agree() {
        let x = uniform(1200, 5, 41);
        let model = fit_with(&x, IsolationForest::params().seed(8));
        let expected = model.score_samples(x.view()).unwrap();
        let mut out = vec![-1.0f32; x.nrows()];
        model.score_into(x.view(), &mut out).unwrap();
        assert_eq!(bits(&Array1::from_vec(out)), bits(&expected));
        // Column-major copy of the same data.
        let mut fortran = Array2::<f32>::zeros((x.ncols(), x.nrows())).reversed_axes();
        fortran.assign(&x);
        assert!(fortran.as_slice().is_none());
        let f_scores = model.score_samples(fortran.view()).unwrap();
        assert_eq!(bits(&f_scores), bits(&expected));
        // A strided view: every other row.
        let strided = x.slice(ndarray::s![..;2, ..]);
        let s_scores = model.score_samples(strided).unwrap();
        let s_expected: Vec<u32> = expected.iter().step_by(2).map(|s| s.to_bits()).collect();
        assert_eq!(bits(&s_scores), s_expected);
    }

    #[test]
    fn scoring_zero_rows_gives_empty_output() {
        let x = uniform(100, 3, 1);
        let model = fit_with(&x, IsolationForest::params());
        let empty = Array2::<f32>::zeros((0, 3));
        assert_eq!(model.score_samples(empty.view()).unwrap().len(), 0);
    }

    // ---------------------------------------------------------------- tree structure

    /// Replays every tree's subsample and checks the fitted structure against the algorithm:
    /// leaves hold depth + c(rows reaching them), every node is reached, thresholds lie in
    /// (min, max] of the rows at the node, and leaves below max_depth with several rows are
    /// constant in every feature.
    fn check_structure(x: &Array2<f32>, model: &IsolationForest, seed: u64, max_depth: usize) {
        let psi = model.subsample_size();
        for (t, &root) in model.roots.iter().enumerate() {
            let mut r = tree_rng(seed, t);
            let sample = draw_subsample(&mut r, x.nrows(), psi);
            let mut stack = vec![(root as usize, sample, 0usize)];
            while let Some((i, rows, depth)) = stack.pop() {
                assert!(
                    !rows.is_empty(),
                    "tree {t} node {i} is reached by no training row"
                );
                let node = model.nodes[i];
                if node.is_leaf() {
                    let expected = (depth as f64 + average_path_length(rows.len())) as f32;
                    assert_eq!(node.value, expected, "tree {t} leaf {i}");
                    assert!(depth <= max_depth);
                    if depth < max_depth && rows.len() > 1 {
                        for f in 0..x.ncols() {
                            let first = x[[rows[0], f]];
                            assert!(rows.iter().all(|&r| x[[r, f]] == first));
                        }
                    }
                    continue;
                }
                let f = node.feature as usize;
                let lo = rows
                    .iter()
                    .map(|&r| x[[r, f]])
                    .fold(f32::INFINITY, f32::min);
                let hi = rows
                    .iter()
                    .map(|&r| x[[r, f]])
                    .fold(f32::NEG_INFINITY, f32::max);
                assert!(
                    lo < node.value && node.value <= hi,
                    "threshold outside (min, max]"
                );
                let (l, rr): (Vec<usize>, Vec<usize>) =
                    rows.iter().partition(|&&r| x[[r, f]] < node.value);
                stack.push((node.left as usize, l, depth + 1));
                stack.push((node.right as usize, rr, depth + 1));
            }
        }
    }

    #[test]
    fn tree_structure_follows_the_algorithm() {
        let x = uniform(600, 4, 51);
        let model = fit_with(&x, IsolationForest::params().seed(13).n_trees(20));
        check_structure(&x, &model, 13, 8);
        // Coarse values force constant features and repeated rows inside nodes.
        let coarse = uniform(600, 3, 52).mapv(|v| (v * 2.0).round());
        let model = fit_with(&coarse, IsolationForest::params().seed(14).n_trees(20));
        check_structure(&coarse, &model, 14, 8);
        let model = fit_with(
            &x,
            IsolationForest::params()
                .seed(15)
                .n_trees(5)
                .max_depth(Some(3)),
        );
        check_structure(&x, &model, 15, 3);
    }

    #[test]
    fn adjacent_float_values_still_split_into_two_nonempty_sides() {
        // Any threshold drawn between two adjacent f32 values rounds to one of them; rounding
        // to the minimum would leave the left side empty.
        let lo = 1.0f32;
        let x = Array2::from_shape_vec((2, 1), vec![lo, lo.next_up()]).unwrap();
        let model = fit_with(&x, IsolationForest::params().n_trees(64));
        for &root in &model.roots {
            let n = model.nodes[root as usize];
            assert!(!n.is_leaf());
            assert_eq!(n.value, lo.next_up());
        }
        check_structure(&x, &model, 0, 1);
    }

    #[test]
    fn depth_limits_are_respected() {
        let x = uniform(2000, 3, 61);
        let auto = fit_with(&x, IsolationForest::params().n_trees(20));
        assert!(ref_trees(&auto).iter().all(|t| t.max_depth() <= 8));
        assert!(ref_trees(&auto).iter().any(|t| t.max_depth() == 8));
        let shallow = fit_with(&x, IsolationForest::params().n_trees(20).max_depth(Some(2)));
        assert!(ref_trees(&shallow).iter().all(|t| t.max_depth() <= 2));
        let deep = fit_with(
            &x,
            IsolationForest::params().n_trees(20).max_depth(Some(64)),
        );
        assert!(ref_trees(&deep).iter().any(|t| t.max_depth() > 8));
    }

    #[test]
    fn constant_features_are_never_split_on() {
        let mut x = uniform(500, 3, 71);
        x.column_mut(0).fill(4.0);
        x.column_mut(2).fill(-1.0);
        let model = fit_with(&x, IsolationForest::params().n_trees(30));
        let internal: Vec<&Node> = model.nodes.iter().filter(|n| !n.is_leaf()).collect();
        assert!(!internal.is_empty());
        assert!(internal.iter().all(|n| n.feature == 1));
    }

    #[test]
    fn split_features_are_roughly_uniform() {
        let x = uniform(2000, 4, 72);
        let model = fit_with(&x, IsolationForest::params().n_trees(200));
        let mut counts = [0usize; 4];
        for n in model.nodes.iter().filter(|n| !n.is_leaf()) {
            counts[n.feature as usize] += 1;
        }
        let total: usize = counts.iter().sum();
        for c in counts {
            let share = c as f64 / total as f64;
            assert!((0.22..0.28).contains(&share), "feature share {share}");
        }
    }

    // ---------------------------------------------------------------- behaviour

    #[test]
    fn far_outliers_score_high_and_inliers_near_half() {
        let mut r = rng(2024);
        let mut rows: Vec<[f32; 2]> = (0..1000)
            .map(|_| [normal(&mut r), normal(&mut r)])
            .collect();
        let outliers = [
            [8.0f32, 8.0],
            [-9.0, 7.0],
            [10.0, -9.0],
            [0.0, 12.0],
            [-11.0, -2.0],
        ];
        rows.extend_from_slice(&outliers);
        let x = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
        let model = fit_with(&x, IsolationForest::params().seed(99));
        let scores = model.score_samples(x.view()).unwrap();
        let (inl, outl) = scores.view().split_at(Axis(0), 1000);
        let mut sorted: Vec<f32> = inl.to_vec();
        sorted.sort_by(f32::total_cmp);
        let p99 = sorted[989];
        let mean = inl.sum() / 1000.0;
        assert!((0.4..=0.5).contains(&mean), "mean inlier score {mean}");
        for &s in outl {
            assert!(s > 0.6, "outlier score {s}");
            assert!(s > p99, "outlier score {s} not above inlier p99 {p99}");
        }
    }

    #[test]
    fn identical_rows_score_one_half() {
        // Every tree is a single leaf holding psi rows: E[h] = c(psi), so s = 2^-1.
        let x = Array2::from_elem((300, 4), 3.5f32);
        let model = fit_with(&x, IsolationForest::params().seed(1));
        assert_eq!(model.nodes.len(), model.n_trees());
        let probe = ndarray::concatenate![Axis(0), x.slice(ndarray::s![..3, ..]), uniform(5, 4, 2)];
        for s in model.score_samples(probe.view()).unwrap() {
            assert!((s - 0.5).abs() < 1e-6, "score {s}");
        }
    }

    #[test]
    fn scores_always_in_unit_interval() {
        for seed in 0..6 {
            let x = uniform(300 + 100 * seed as usize, 1 + seed as usize, seed);
            let model = fit_with(
                &x,
                IsolationForest::params()
                    .seed(seed)
                    .max_samples(2 + 50 * seed as usize)
                    .n_trees(25),
            );
            let probe = uniform(1000, x.ncols(), seed + 50) * 1000.0f32;
            for s in model
                .score_samples(probe.view())
                .unwrap()
                .iter()
                .chain(model.score_samples(x.view()).unwrap().iter())
            {
                assert!(*s > 0.0 && *s <= 1.0, "score {s}");
            }
        }
    }

    #[test]
    fn max_samples_above_row_count_uses_all_rows() {
        let x = uniform(10, 2, 81);
        let model = fit_with(&x, IsolationForest::params().seed(2));
        assert_eq!(model.subsample_size(), 10);
        check_structure(&x, &model, 2, auto_max_depth(10));
        let s = model.score_samples(x.view()).unwrap();
        assert!(s.iter().all(|&v| v > 0.0 && v <= 1.0));
    }

    #[test]
    fn single_row_gives_neutral_scores() {
        let x = Array2::from_elem((1, 3), 1.0f32);
        let model = fit_with(&x, IsolationForest::params());
        assert_eq!(model.subsample_size(), 1);
        assert_eq!(model.score_one(&[5.0, -5.0, 0.0]).unwrap(), 0.5);
    }

    // ---------------------------------------------------------------- errors

    #[test]
    fn empty_dataset_is_rejected() {
        let x = Array2::<f32>::zeros((0, 3));
        let err = IsolationForest::params()
            .fit(&DatasetBase::from(x))
            .unwrap_err();
        assert!(matches!(err, IsolationForestError::EmptyDataset), "{err}");
    }

    #[test]
    fn zero_features_are_rejected() {
        let x = Array2::<f32>::zeros((5, 0));
        let err = IsolationForest::params()
            .fit(&DatasetBase::from(x))
            .unwrap_err();
        assert!(matches!(err, IsolationForestError::ZeroFeatures), "{err}");
    }

    #[test]
    fn non_finite_training_values_are_rejected_with_position() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = uniform(20, 4, 1);
            x[[7, 2]] = bad;
            x[[9, 0]] = bad;
            let err = IsolationForest::params()
                .fit(&DatasetBase::from(x))
                .unwrap_err();
            match err {
                IsolationForestError::NonFinite { row, column, value } => {
                    assert_eq!((row, column), (7, 2));
                    assert_eq!(value.to_bits(), bad.to_bits());
                }
                other => panic!("unexpected error {other}"),
            }
        }
        let mut x = uniform(20, 4, 1);
        x[[3, 1]] = f32::NAN;
        let msg = IsolationForest::params()
            .fit(&DatasetBase::from(x))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("row 3") && msg.contains("column 1"), "{msg}");
    }

    #[test]
    fn wrong_feature_count_at_scoring_is_rejected() {
        let model = fit_with(&uniform(100, 3, 1), IsolationForest::params());
        let err = model.score_one(&[0.0, 1.0]).unwrap_err();
        assert!(matches!(
            err,
            IsolationForestError::FeatureCountMismatch {
                expected: 3,
                actual: 2
            }
        ));
        let err = model.score_samples(uniform(10, 4, 2).view()).unwrap_err();
        assert!(matches!(
            err,
            IsolationForestError::FeatureCountMismatch {
                expected: 3,
                actual: 4
            }
        ));
    }

    #[test]
    fn output_length_mismatch_is_rejected() {
        let model = fit_with(&uniform(100, 3, 1), IsolationForest::params());
        let x = uniform(10, 3, 2);
        let mut out = vec![0.0; 9];
        let err = model.score_into(x.view(), &mut out).unwrap_err();
        assert!(matches!(
            err,
            IsolationForestError::OutputLengthMismatch {
                expected: 10,
                actual: 9
            }
        ));
    }

    #[test]
    fn non_finite_scoring_values_report_first_position() {
        let model = fit_with(&uniform(100, 3, 1), IsolationForest::params());
        let mut x = uniform(3000, 3, 2);
        x[[2900, 0]] = f32::NAN;
        x[[1800, 2]] = f32::INFINITY;
        x[[1800, 1]] = f32::NEG_INFINITY;
        let err = model.score_samples(x.view()).unwrap_err();
        assert!(
            matches!(
                err,
                IsolationForestError::NonFinite {
                    row: 1800,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );
        let err = model.score_one(&[0.0, f32::NAN, 0.0]).unwrap_err();
        assert!(matches!(
            err,
            IsolationForestError::NonFinite {
                row: 0,
                column: 1,
                ..
            }
        ));
    }

    // ---------------------------------------------------------------- serde

    fn fitted_json() -> (IsolationForest, serde_json::Value, Array2<f32>) {
        let x = uniform(500, 3, 91);
        let model = fit_with(&x, IsolationForest::params().seed(4).n_trees(10));
        let json = serde_json::to_value(&model).unwrap();
        (model, json, x)
    }

    #[test]
    fn serde_round_trip_preserves_scores() {
        let (model, _, x) = fitted_json();
        let text = serde_json::to_string(&model).unwrap();
        let back: IsolationForest = serde_json::from_str(&text).unwrap();
        assert_eq!(model, back);
        back.validate().unwrap();
        assert_eq!(
            bits(&model.score_samples(x.view()).unwrap()),
            bits(&back.score_samples(x.view()).unwrap())
        );
    }

    /// Deserialises an edited model, asserts `validate()` rejects it with a message containing
    /// `needle`, and that scoring refuses it instead of panicking.
    fn assert_corrupt(json: serde_json::Value, needle: &str) {
        let model: IsolationForest = serde_json::from_value(json).unwrap();
        let err = model.validate().unwrap_err();
        assert!(
            matches!(err, IsolationForestError::InvalidModel(_)),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
        let width = model.n_features();
        let row = vec![0.0f32; width];
        assert!(matches!(
            model.score_one(&row),
            Err(IsolationForestError::InvalidModel(_))
        ));
        let x = Array2::<f32>::zeros((4, width.max(1)));
        assert!(model.score_samples(x.view()).is_err());
    }

    fn first_internal(json: &serde_json::Value) -> usize {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .position(|n| n["feature"].as_u64() != Some(u64::from(LEAF)))
            .unwrap()
    }

    #[test]
    fn corrupt_child_index_out_of_range_is_detected() {
        let (model, mut json, _) = fitted_json();
        let i = first_internal(&json);
        json["nodes"][i]["left"] = serde_json::json!(model.nodes.len() + 10);
        assert_corrupt(json, "child index");
    }

    #[test]
    fn corrupt_child_index_into_next_tree_is_detected() {
        let (model, mut json, _) = fitted_json();
        let i = first_internal(&json);
        json["nodes"][i]["right"] = serde_json::json!(model.roots[1]);
        assert_corrupt(json, "child index");
    }

    #[test]
    fn corrupt_backward_child_index_is_detected() {
        let (_, mut json, _) = fitted_json();
        let i = first_internal(&json);
        json["nodes"][i]["left"] = serde_json::json!(i); // self-loop
        assert_corrupt(json, "child index");
    }

    #[test]
    fn corrupt_feature_index_is_detected() {
        let (model, mut json, _) = fitted_json();
        let i = first_internal(&json);
        json["nodes"][i]["feature"] = serde_json::json!(model.n_features());
        assert_corrupt(json, "feature");
    }

    #[test]
    fn corrupt_threshold_and_leaf_values_are_detected() {
        let (_, json, _) = fitted_json();
        let i = first_internal(&json);
        let mut bad_threshold = json.clone();
        bad_threshold["nodes"][i]["value"] = serde_json::json!(1e39); // inf as f32
        assert_corrupt(bad_threshold, "threshold");
        let leaf = json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .position(|n| n["feature"].as_u64() == Some(u64::from(LEAF)))
            .unwrap();
        let mut negative = json.clone();
        negative["nodes"][leaf]["value"] = serde_json::json!(-1.0);
        assert_corrupt(negative, "path length");
        let mut huge = json;
        huge["nodes"][leaf]["value"] = serde_json::json!(1e30);
        assert_corrupt(huge, "path length");
    }

    #[test]
    fn corrupt_tree_ranges_are_detected() {
        let (model, json, _) = fitted_json();
        let mut unordered = json.clone();
        unordered["roots"][2] = serde_json::json!(model.roots[1]);
        assert_corrupt(unordered, "tree 1");
        let mut past_end = json.clone();
        past_end["roots"][9] = serde_json::json!(model.nodes.len() + 5);
        assert_corrupt(past_end, "tree 8");
        let mut shifted = json.clone();
        shifted["roots"][0] = serde_json::json!(1);
        assert_corrupt(shifted, "node 0");
        let mut no_trees = json.clone();
        no_trees["roots"] = serde_json::json!([]);
        assert_corrupt(no_trees, "no trees");
        let mut no_features = json;
        no_features["n_features"] = serde_json::json!(0);
        assert_corrupt(no_features, "n_features");
    }

    #[test]
    fn corrupt_huge_feature_count_is_detected() {
        let (_, mut json, _) = fitted_json();
        json["n_features"] = serde_json::json!(u64::from(u32::MAX) + 1);
        let model: IsolationForest = serde_json::from_value(json).unwrap();
        let err = model.validate().unwrap_err();
        assert!(err.to_string().contains("n_features"), "{err}");
        assert!(model.score_one(&[0.0; 3]).is_err());
    }

    #[test]
    fn corrupt_depth_is_detected() {
        // A hand-built chain: internal node 2i sends left to leaf 2i+1 and right to internal
        // node 2i+2. Forward-pointing and in range, but 70 levels deep (> 64).
        let n_internal = 70u32;
        let mut chain = Vec::new();
        for i in 0..n_internal {
            chain.push(serde_json::json!({
                "feature": 0, "value": 0.5, "left": 2 * i + 1, "right": 2 * i + 2
            }));
            chain.push(serde_json::json!({ "feature": LEAF, "value": 1.0, "left": 0, "right": 0 }));
        }
        chain.push(serde_json::json!({ "feature": LEAF, "value": 1.0, "left": 0, "right": 0 }));
        let json = serde_json::json!({
            "n_features": 1, "subsample_size": 256, "roots": [0], "nodes": chain.clone()
        });
        assert_corrupt(json, "deeper");
        // The same chain cut to 64 levels is accepted.
        let mut short: Vec<serde_json::Value> = chain[..128].to_vec();
        short.push(serde_json::json!({ "feature": LEAF, "value": 1.0, "left": 0, "right": 0 }));
        let json = serde_json::json!({
            "n_features": 1, "subsample_size": 256, "roots": [0], "nodes": short
        });
        let model: IsolationForest = serde_json::from_value(json).unwrap();
        model.validate().unwrap();
    }

    #[test]
    fn fitted_models_always_validate() {
        for seed in 0..5 {
            let x = uniform(200 + 300 * seed as usize, 1 + 2 * seed as usize, seed);
            let model = fit_with(&x, IsolationForest::params().seed(seed).n_trees(20));
            model.validate().unwrap();
            let fresh: IsolationForest =
                serde_json::from_value(serde_json::to_value(&model).unwrap()).unwrap();
            fresh.validate().unwrap();
        }
    }

    #[test]
    fn range_check_isolates_novel_values_and_leaves_known_rows_alone() {
        let x = uniform(256, 3, 11);
        let plain = fit_with(&x, IsolationForest::params().seed(3).max_samples(256));
        let checked = fit_with(
            &x,
            IsolationForest::params()
                .seed(3)
                .max_samples(256)
                .range_check(true),
        );
        // psi = n_rows: every training row lies inside every range on its own paths
        let a = plain.score_samples(x.view()).unwrap();
        let b = checked.score_samples(x.view()).unwrap();
        assert_eq!(bits(&a), bits(&b));
        // a value beyond the training range is isolated sooner with the check
        let far = ndarray::array![[0.5f32, 0.5, 50.0]];
        let (sp, sc) = (
            plain.score_samples(far.view()).unwrap()[0],
            checked.score_samples(far.view()).unwrap()[0],
        );
        assert!(sc > sp + 0.05, "checked {sc} vs plain {sp}");
        assert!(sc > a.iter().copied().fold(0.0, f32::max));
        // batch and single-row scoring agree with the check on
        let mixed = ndarray::concatenate![ndarray::Axis(0), x.view(), far.view()];
        let batch = checked.score_samples(mixed.view()).unwrap();
        for (i, row) in mixed.outer_iter().enumerate() {
            let one = checked.score_one(row.as_slice().unwrap()).unwrap();
            assert_eq!(one.to_bits(), batch[i].to_bits(), "row {i}");
        }
    }

    #[test]
    fn an_inverted_training_range_is_corrupt() {
        let model = fit_with(&uniform(64, 2, 1), IsolationForest::params().n_trees(2));
        let mut json = serde_json::to_value(&model).unwrap();
        let nodes = json["nodes"].as_array_mut().unwrap();
        let internal = nodes
            .iter_mut()
            .find(|n| n["feature"].as_u64() != Some(u64::from(LEAF)))
            .unwrap();
        internal["lo"] = serde_json::json!(2.0);
        internal["hi"] = serde_json::json!(1.0);
        assert_corrupt(json, "range");
    }
}
