//! Stable hashing for anything persisted in a model file.
//!
//! std's and most crates' hashers may change between releases; a model trained today
//! must score the same tomorrow, so keys and projection codes use FNV-1a, fixed forever.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    extend(OFFSET, bytes)
}

/// Continues an FNV-1a hash with more bytes.
pub fn extend(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// Hash of a token sequence: the identity of a line's template.
pub fn template<'a>(tokens: impl Iterator<Item = &'a str>) -> u64 {
    tokens.fold(OFFSET, |h, t| extend(extend(h, t.as_bytes()), &[0xff]))
}

/// splitmix64 finaliser: spreads FNV's weak low bits before they are used as code bits.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn template_separates_token_boundaries() {
        assert_ne!(
            template(["ab", "c"].into_iter()),
            template(["a", "bc"].into_iter())
        );
        assert_eq!(
            template(["a", "b"].into_iter()),
            template(["a", "b"].into_iter())
        );
    }
}
