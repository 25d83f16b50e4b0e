//! A log-linear latency histogram (HDR-style): values below 256 ns are exact, larger ones fall
//! into buckets 1/128 of their power of two wide, so any reported value is within 0.8 % of the
//! recorded one (the midpoint of its bucket: within 0.4 %). Lock-free, shared by all streams.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SUB_BITS: u32 = 8;
const HALF: usize = 1 << (SUB_BITS - 1); // 128
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * HALF + HALF;

pub struct Hist {
    counts: Vec<AtomicU64>,
    total: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

pub fn index(v: u64) -> usize {
    if v < (1 << SUB_BITS) {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - (SUB_BITS - 1);
    let mant = (v >> shift) as usize; // HALF..2*HALF
    ((shift as usize) << (SUB_BITS - 1)) + mant
}

/// The smallest and largest value of a bucket.
pub fn bounds(idx: usize) -> (u64, u64) {
    if idx < (1 << SUB_BITS) {
        return (idx as u64, idx as u64);
    }
    let shift = (idx >> (SUB_BITS - 1)) - 1;
    let mant = ((idx & (HALF - 1)) + HALF) as u64;
    (mant << shift, ((mant + 1) << shift) - 1)
}

fn mid(idx: usize) -> u64 {
    let (lo, hi) = bounds(idx);
    lo + (hi - lo) / 2
}

impl Hist {
    pub fn new() -> Hist {
        Hist {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }

    pub fn record(&self, v: u64) {
        self.counts[index(v)].fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.min.fetch_min(v, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// The value at quantile `q` (0..=1): the midpoint of the bucket holding the sample of rank
    /// ceil(q·n), clamped to the recorded minimum and maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let (min, max) = (self.min.load(Relaxed), self.max.load(Relaxed));
        if q <= 0.0 {
            return min;
        }
        if q >= 1.0 {
            return max;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Relaxed);
            if seen >= rank {
                return mid(i).clamp(min, max);
            }
        }
        max
    }

    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            0.0
        } else {
            self.sum.load(Relaxed) as f64 / n as f64
        }
    }

    pub fn min(&self) -> u64 {
        if self.count() == 0 {
            0
        } else {
            self.min.load(Relaxed)
        }
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// Non-empty buckets as (lowest value, highest value, count): enough to merge runs or
    /// recompute any quantile afterwards.
    pub fn buckets(&self) -> Vec<(u64, u64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.load(Relaxed);
                (c > 0).then(|| {
                    let (lo, hi) = bounds(i);
                    (lo, hi, c)
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev_hi = None;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            assert!(hi >= lo);
            assert!(
                (hi - lo) as f64 <= lo as f64 / 127.0 + 0.5,
                "bucket {i}: {lo}..{hi}"
            );
            assert_eq!(index(lo), i);
            assert_eq!(index(hi), i);
            prev_hi = Some(hi);
            if hi == u64::MAX {
                break;
            }
        }
        assert_eq!(prev_hi, Some(u64::MAX));
    }

    #[test]
    fn quantiles() {
        let h = Hist::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 0.005, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 0.005, "{p99}");
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.count(), 100_000);
    }
}
