//! Hyperparameters of the isolation forest, following linfa's checked/unchecked pattern
//! ([`linfa::ParamGuard`]).

use super::errors::IsolationForestParamsError;
use linfa::ParamGuard;

/// Default number of trees, as in Liu et al. (2008) and scikit-learn.
pub(super) const DEFAULT_N_TREES: usize = 100;
/// Default subsample size per tree (psi), as in Liu et al. (2008) and scikit-learn.
pub(super) const DEFAULT_MAX_SAMPLES: usize = 256;
/// Upper bound for `n_trees`; guards against configuration typos that would take forever.
pub(super) const MAX_TREES: usize = 10_000;
/// Upper bound for an explicit `max_depth`; deeper trees add nothing for isolation and the
/// scorer relies on paths being short.
pub(super) const MAX_DEPTH_LIMIT: usize = 64;

/// Checked isolation forest hyperparameters.
///
/// Only obtainable through [`IsolationForestParams`] and `check()`/`check_ref()`, so holding
/// one proves the values are in range. `Fit` is implemented on this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationForestValidParams {
    n_trees: usize,
    max_samples: usize,
    max_depth: Option<usize>,
    seed: u64,
    range_check: bool,
}

/// Unchecked isolation forest hyperparameters with consuming setters.
///
/// Obtain with [`IsolationForest::params()`](super::IsolationForest::params); call `fit`
/// directly (linfa's blanket impl checks first) or `check()` to get the
/// [`IsolationForestValidParams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationForestParams(IsolationForestValidParams);

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolationForestParams {
    /// Creates parameters with the defaults: 100 trees, 256 samples per tree, automatic depth
    /// (`ceil(log2(psi))`) and seed 0.
    pub fn new() -> Self {
        Self(IsolationForestValidParams {
            n_trees: DEFAULT_N_TREES,
            max_samples: DEFAULT_MAX_SAMPLES,
            max_depth: None,
            seed: 0,
            range_check: false,
        })
    }

    /// Sets the number of trees (1..=10 000). More trees give smoother, more stable scores at
    /// linear cost.
    pub fn n_trees(mut self, n_trees: usize) -> Self {
        self.0.n_trees = n_trees;
        self
    }

    /// Sets the subsample size per tree (at least 2). The effective size psi is
    /// `min(max_samples, n_rows)`.
    pub fn max_samples(mut self, max_samples: usize) -> Self {
        self.0.max_samples = max_samples;
        self
    }

    /// Sets the maximum tree depth (1..=64), or `None` for scikit-learn's `ceil(log2(psi))`.
    pub fn max_depth(mut self, max_depth: Option<usize>) -> Self {
        self.0.max_depth = max_depth;
        self
    }

    /// Sets the random seed. The same seed and data give bit-identical models and scores,
    /// whatever the number of threads.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// Isolates a row at the first node where its value of the split feature lies outside
    /// the range the node's training rows spanned (path length: that node's depth + 1).
    ///
    /// Off (the default), scores are those of Liu et al. and scikit-learn, where a row far
    /// beyond the training data is only ever as isolated as the most extreme training row.
    /// On, novelty (a value never seen in training) is scored as such; rows inside every
    /// range they meet score exactly as with it off.
    pub fn range_check(mut self, on: bool) -> Self {
        self.0.range_check = on;
        self
    }
}

impl IsolationForestValidParams {
    /// Number of trees in the forest.
    pub fn n_trees(&self) -> usize {
        self.n_trees
    }

    /// Requested subsample size per tree (before capping at the number of rows).
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// Explicit maximum depth, or `None` for `ceil(log2(psi))`.
    pub fn max_depth(&self) -> Option<usize> {
        self.max_depth
    }

    /// Random seed of the forest.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether rows outside a node's training range are isolated at that node.
    pub fn range_check(&self) -> bool {
        self.range_check
    }
}

impl ParamGuard for IsolationForestParams {
    type Checked = IsolationForestValidParams;
    type Error = IsolationForestParamsError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        let p = &self.0;
        if p.n_trees == 0 || p.n_trees > MAX_TREES {
            return Err(IsolationForestParamsError::NTrees {
                got: p.n_trees,
                max: MAX_TREES,
            });
        }
        if p.max_samples < 2 {
            return Err(IsolationForestParamsError::MaxSamples(p.max_samples));
        }
        if let Some(depth) = p.max_depth {
            if depth == 0 || depth > MAX_DEPTH_LIMIT {
                return Err(IsolationForestParamsError::MaxDepth {
                    got: depth,
                    max: MAX_DEPTH_LIMIT,
                });
            }
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let p = IsolationForestParams::default().check().unwrap();
        assert_eq!(p.n_trees(), 100);
        assert_eq!(p.max_samples(), 256);
        assert_eq!(p.max_depth(), None);
        assert_eq!(p.seed(), 0);
        assert_eq!(
            IsolationForestParams::new(),
            IsolationForestParams::default()
        );
    }

    #[test]
    fn setters_round_trip_through_check() {
        let p = IsolationForestParams::new()
            .n_trees(7)
            .max_samples(32)
            .max_depth(Some(5))
            .seed(42)
            .check()
            .unwrap();
        assert_eq!(
            (p.n_trees(), p.max_samples(), p.max_depth(), p.seed()),
            (7, 32, Some(5), 42)
        );
    }

    #[test]
    fn n_trees_zero_rejected() {
        let err = IsolationForestParams::new().n_trees(0).check().unwrap_err();
        assert_eq!(
            err,
            IsolationForestParamsError::NTrees {
                got: 0,
                max: MAX_TREES
            }
        );
        assert!(err.to_string().contains("n_trees"));
    }

    #[test]
    fn n_trees_upper_bound() {
        assert!(IsolationForestParams::new().n_trees(1).check().is_ok());
        assert!(IsolationForestParams::new()
            .n_trees(MAX_TREES)
            .check()
            .is_ok());
        let err = IsolationForestParams::new()
            .n_trees(MAX_TREES + 1)
            .check()
            .unwrap_err();
        assert!(
            matches!(err, IsolationForestParamsError::NTrees { got, .. } if got == MAX_TREES + 1)
        );
    }

    #[test]
    fn max_samples_below_two_rejected() {
        for bad in [0, 1] {
            let err = IsolationForestParams::new()
                .max_samples(bad)
                .check()
                .unwrap_err();
            assert_eq!(err, IsolationForestParamsError::MaxSamples(bad));
        }
        assert!(IsolationForestParams::new().max_samples(2).check().is_ok());
    }

    #[test]
    fn max_depth_range() {
        for bad in [0, MAX_DEPTH_LIMIT + 1, usize::MAX] {
            let err = IsolationForestParams::new()
                .max_depth(Some(bad))
                .check()
                .unwrap_err();
            assert!(matches!(err, IsolationForestParamsError::MaxDepth { got, .. } if got == bad));
        }
        for ok in [None, Some(1), Some(MAX_DEPTH_LIMIT)] {
            assert!(IsolationForestParams::new().max_depth(ok).check().is_ok());
        }
    }

    #[test]
    fn check_ref_agrees_with_check() {
        let cases = [
            IsolationForestParams::new(),
            IsolationForestParams::new().n_trees(0),
            IsolationForestParams::new().max_samples(1),
            IsolationForestParams::new().max_depth(Some(0)),
            IsolationForestParams::new().max_depth(Some(3)).seed(9),
        ];
        for p in cases {
            let by_ref = p.check_ref().cloned();
            assert_eq!(by_ref, p.clone().check());
        }
    }
}
