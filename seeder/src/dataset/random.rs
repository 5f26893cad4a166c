//! Random values a device can be asked for in any order: a hash of the
//! seed, the tenant's stream, the device's position and what is drawn,
//! rather than the next value of a sequence. The status step asks them of
//! one campaign's devices at a time, the device step of every campaign's.
//! What is drawn in order instead (a tenant's profile, the fleet's devices
//! as they are generated) comes from the streams of [`rng`].

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

/// SplitMix64's finaliser: a fixed, well-mixed 64-bit hash.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A value in [0, 1) for draw `salt` of device `ordinal` in `stream`.
pub fn unit_interval(seed: u64, stream: u64, ordinal: u64, salt: u64) -> f64 {
    let h = mix(mix(mix(mix(seed) ^ stream) ^ ordinal) ^ salt);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// ChaCha8 rather than `StdRng`: its output is fixed across rand versions
/// and platforms, so a seed means the same rows forever.
pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_fixed_and_spread() {
        // Fixed forever: a seed means the same rows in every version.
        assert_eq!(unit_interval(42, 1, 0, 1), unit_interval(42, 1, 0, 1));
        assert_ne!(unit_interval(42, 1, 0, 1), unit_interval(42, 1, 1, 1));
        let mean = (0..10_000).map(|i| unit_interval(42, 3, i, 7)).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
