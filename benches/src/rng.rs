//! A small seeded random generator, for shuffling the order of contenders
//! in each round (reproducible from the seed the driver prints).
//!
//! ```
//! use benches::rng::Rng;
//! let mut order = vec!["a", "b", "c", "d"];
//! Rng::new(7).shuffle(&mut order);
//! let mut again = vec!["a", "b", "c", "d"];
//! Rng::new(7).shuffle(&mut again);
//! assert_eq!(order, again);
//! ```

/// SplitMix64: tiny, fast, good enough to shuffle a handful of names.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n above 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_keeps_every_item() {
        let mut rng = Rng::new(1);
        for _ in 0..100 {
            let mut items: Vec<u32> = (0..6).collect();
            rng.shuffle(&mut items);
            items.sort_unstable();
            assert_eq!(items, [0, 1, 2, 3, 4, 5]);
        }
    }

    #[test]
    fn shuffles_reach_every_first_place() {
        let mut rng = Rng::new(2);
        let mut first = [0u32; 4];
        for _ in 0..400 {
            let mut items = [0, 1, 2, 3];
            rng.shuffle(&mut items);
            first[items[0]] += 1;
        }
        assert!(first.iter().all(|&n| n > 50), "{first:?}");
    }

    #[test]
    fn seeds_give_different_orders() {
        let order = |seed| {
            let mut items: Vec<u32> = (0..8).collect();
            Rng::new(seed).shuffle(&mut items);
            items
        };
        assert_ne!(order(1), order(2));
        assert_eq!(order(3), order(3));
    }
}
