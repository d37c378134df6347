//! Shared helpers of the criterion benchmarks.

/// Deterministic text-like data that compresses about as well as source code.
pub fn sample(len: usize, seed: u64) -> Vec<u8> {
    let words: [&[u8]; 10] = [
        b"accelerator ",
        b"queue ",
        b"doorbell ",
        b"phase ",
        b"deflate\n",
        b"kunpeng ",
        b"zip ",
        b"ring ",
        b"0123456789 ",
        b"completion ",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 7 == 0 {
            out.push((x >> 24) as u8);
        } else {
            out.extend_from_slice(words[(x % 10) as usize]);
        }
    }
    out.truncate(len);
    out
}
