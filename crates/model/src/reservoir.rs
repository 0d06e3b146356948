//! A uniform random sample of a stream of lines with bounded memory (algorithm R).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Keeps at most `capacity` lines; every line offered has the same chance to be kept.
#[derive(Debug)]
pub struct Reservoir {
    lines: Vec<String>,
    capacity: usize,
    offered: u64,
    rng: Xoshiro256PlusPlus,
}

impl Reservoir {
    /// An empty sample of at most `capacity` lines, reproducible for a given `seed`.
    pub fn new(capacity: usize, seed: u64) -> Self {
        Self {
            lines: Vec::with_capacity(capacity.min(1 << 16)),
            capacity,
            offered: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// Offers a line; it is copied only when kept.
    pub fn offer(&mut self, line: &str) {
        if self.capacity == 0 {
            return;
        }
        self.offered += 1;
        if self.lines.len() < self.capacity {
            self.lines.push(line.to_string());
        } else {
            let j = self.rng.gen_range(0..self.offered);
            if let Some(slot) = self.lines.get_mut(j as usize) {
                *slot = line.to_string();
            }
        }
    }

    /// The lines kept.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Lines offered so far.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Takes the kept lines and starts a new sample.
    pub fn take(&mut self) -> Vec<String> {
        self.offered = 0;
        std::mem::take(&mut self.lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_roughly_uniform() {
        let mut r = Reservoir::new(1000, 7);
        for i in 0..100_000 {
            r.offer(&i.to_string());
        }
        assert_eq!(r.lines().len(), 1000);
        assert_eq!(r.offered(), 100_000);
        // about half of the kept lines come from the second half of the stream
        let late = r
            .lines()
            .iter()
            .filter(|l| l.parse::<u32>().unwrap() >= 50_000)
            .count();
        assert!((400..600).contains(&late), "{late}");
        assert_eq!(r.take().len(), 1000);
        assert_eq!((r.lines().len(), r.offered()), (0, 0));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut r = Reservoir::new(0, 1);
        r.offer("x");
        assert!(r.lines().is_empty());
    }
}
