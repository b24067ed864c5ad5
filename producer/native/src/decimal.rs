//! Decimal strings <-> exact fixed point (integers scaled by 10^8), and the published floats.
//!
//! Mirrors `producer.book.parse_fixed` exactly for the strings it accepts; anything it does not
//! accept makes the caller hand the whole frame to the Python reference, which finds the reason.

pub const SCALE_DIGITS: usize = 8;
const MAX_TEXT_LEN: usize = 64;
/// Values at or above 2^127 are rejected by the Python reference too (`producer.book.MAX_FIXED`).
pub const MAX_FIXED: u128 = 1u128 << 127;
const EXACT_F64: u128 = 1u128 << 53;

/// A decimal string -> fixed point, or None when the Python reference would reject it (or when
/// it is not worth handling here: the caller then defers to Python, which gives the verdict).
#[inline]
pub fn parse_fixed(text: &[u8]) -> Option<u128> {
    let len = text.len();
    if len == 0 || len > MAX_TEXT_LEN {
        return None;
    }
    let mut value: u128 = 0;
    let mut i = 0;
    // whole part
    while i < len {
        let c = text[i];
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add((c - b'0') as u128)?;
            i += 1;
        } else if c == b'.' {
            break;
        } else {
            return None;
        }
    }
    let whole_len = i;
    let mut frac_len = 0;
    if i < len {
        i += 1; // the dot
        while i < len {
            let c = text[i];
            if !c.is_ascii_digit() {
                return None;
            }
            if frac_len < SCALE_DIGITS {
                value = value.checked_mul(10)?.checked_add((c - b'0') as u128)?;
            } else if c != b'0' {
                return None; // more than 8 significant decimals
            }
            frac_len += 1;
            i += 1;
        }
    }
    if whole_len == 0 && frac_len == 0 {
        return None;
    }
    let mut missing = SCALE_DIGITS.saturating_sub(frac_len);
    while missing > 0 {
        value = value.checked_mul(10)?;
        missing -= 1;
    }
    if value >= MAX_FIXED {
        return None;
    }
    Some(value)
}

/// Fixed point -> the nearest double to value / 10^8 (what Python's int / int true division gives).
#[inline]
pub fn to_f64(value: u128) -> f64 {
    if value < EXACT_F64 {
        // Both operands are exact doubles and IEEE division is correctly rounded.
        return value as f64 / 100_000_000.0;
    }
    // Same rational number written in decimal: Rust's parser is correctly rounded too.
    let text = format!("{}.{:08}", value / 100_000_000, value % 100_000_000);
    text.parse::<f64>().expect("a decimal string always parses")
}

/// Append a float as orjson writes it: shortest round-trip digits (ryu) with an explicit '+' in
/// positive exponents ("1e+16", "1e-8", "0.00001", "100.0").
#[inline]
pub fn write_f64(out: &mut Vec<u8>, value: f64, buf: &mut ryu::Buffer) {
    let text = buf.format_finite(value).as_bytes();
    match text.iter().position(|&c| c == b'e') {
        Some(pos) if text.get(pos + 1) != Some(&b'-') => {
            out.extend_from_slice(&text[..=pos]);
            out.push(b'+');
            out.extend_from_slice(&text[pos + 1..]);
        }
        _ => out.extend_from_slice(text),
    }
}

/// Append an unsigned integer in decimal.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[inline]
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}
