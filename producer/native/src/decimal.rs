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
    if len <= 19 {
        return parse_short(text);
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

/// parse_fixed for texts of at most 19 characters: at most 19 digits, which fit a u64 without
/// overflow checks; the scaling by up to 10^8 is done in u128 (< 10^27, far below MAX_FIXED).
#[inline]
fn parse_short(text: &[u8]) -> Option<u128> {
    let mut value: u64 = 0;
    let mut whole_len = 0usize;
    let mut frac_len = 0usize;
    let mut seen_dot = false;
    let mut significant_frac = 0usize;
    for &c in text {
        if c.is_ascii_digit() {
            if seen_dot {
                frac_len += 1;
                if frac_len > SCALE_DIGITS {
                    if c != b'0' {
                        return None;
                    }
                    continue;
                }
                significant_frac += 1;
            } else {
                whole_len += 1;
            }
            value = value * 10 + (c - b'0') as u64;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            return None;
        }
    }
    if whole_len == 0 && frac_len == 0 {
        return None;
    }
    Some(value as u128 * POW10[SCALE_DIGITS - significant_frac])
}

const POW10: [u128; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// Fixed point -> the nearest double to value / 10^8 (what Python's int / int true division gives).
#[inline]
pub fn to_f64(value: u128) -> f64 {
    if value < EXACT_F64 {
        // Both operands are exact doubles and IEEE division is correctly rounded.
        return (value as u64) as f64 / 100_000_000.0;
    }
    // Same rational number written in decimal: Rust's parser is correctly rounded too.
    let text = format!("{}.{:08}", value / 100_000_000, value % 100_000_000);
    text.parse::<f64>().expect("a decimal string always parses")
}

/// a * b / (c * d) as the nearest double (round half to even), exactly as Python's true division
/// of the same integers: contracts to base units (producer.contract_sync). Where both products are
/// below 2^53 they are exact doubles and one IEEE division is correctly rounded; otherwise the
/// quotient's bits are taken by long division over 256-bit products.
pub fn ratio_to_f64(a: u128, b: u128, c: u128, d: u128) -> f64 {
    let n = U256::mul(a, b);
    let m = U256::mul(c, d);
    if n.hi == 0 && m.hi == 0 && n.lo < EXACT_F64 && m.lo < EXACT_F64 {
        return n.lo as u64 as f64 / m.lo as u64 as f64;
    }
    divide_rounded(n, m)
}

/// An unsigned 256-bit integer, only as wide as ratio_to_f64 needs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U256 {
    hi: u128,
    lo: u128,
}

impl U256 {
    fn mul(a: u128, b: u128) -> U256 {
        let (a1, a0) = (a >> 64, a & u64::MAX as u128);
        let (b1, b0) = (b >> 64, b & u64::MAX as u128);
        let (mid1, mid2) = (a0 * b1, a1 * b0);
        let mut hi = a1 * b1 + (mid1 >> 64) + (mid2 >> 64);
        let (lo, c1) = (a0 * b0).overflowing_add(mid1 << 64);
        let (lo, c2) = lo.overflowing_add(mid2 << 64);
        hi += c1 as u128 + c2 as u128;
        U256 { hi, lo }
    }

    fn bits(&self) -> u32 {
        if self.hi != 0 { 256 - self.hi.leading_zeros() } else { 128 - self.lo.leading_zeros() }
    }

    fn bit(&self, i: u32) -> u128 {
        if i >= 128 { (self.hi >> (i - 128)) & 1 } else { (self.lo >> i) & 1 }
    }

    /// Any of bits 0..k set.
    fn low_bits(&self, k: u32) -> bool {
        match k {
            0 => false,
            1..=127 => self.lo & ((1u128 << k) - 1) != 0,
            128 => self.lo != 0,
            _ => self.lo != 0 || self.hi & ((1u128 << (k - 128)) - 1) != 0,
        }
    }

    fn is_zero(&self) -> bool {
        self.hi == 0 && self.lo == 0
    }

    fn shl1_or(&self, bit: u128) -> U256 {
        U256 { hi: (self.hi << 1) | (self.lo >> 127), lo: (self.lo << 1) | bit }
    }

    fn sub(&self, other: &U256) -> U256 {
        let (lo, borrow) = self.lo.overflowing_sub(other.lo);
        U256 { hi: self.hi - other.hi - borrow as u128, lo }
    }
}

/// n / d correctly rounded (d > 0, d < 2^255): 55 quotient bits by long division, then round
/// half to even on the 53-bit mantissa with the remainder as the sticky bit.
fn divide_rounded(n: U256, d: U256) -> f64 {
    if n.is_zero() {
        return 0.0;
    }
    let mut r = U256 { hi: 0, lo: 0 };
    let (mut q, mut q_bits, mut exp, mut pos) = (0u64, 0u32, 0i32, n.bits() as i32 - 1);
    loop {
        let bit = if pos >= 0 { n.bit(pos as u32) } else { 0 };
        r = r.shl1_or(bit);
        let one = r >= d;
        if one {
            r = r.sub(&d);
        }
        if q_bits == 0 && one {
            exp = pos;
        }
        if q_bits > 0 || one {
            q = (q << 1) | one as u64;
            q_bits += 1;
            if q_bits == 55 {
                break;
            }
        }
        pos -= 1;
    }
    let sticky = !r.is_zero() || (pos > 0 && n.low_bits(pos as u32)) || q & 1 == 1;
    let mut mantissa = q >> 2;
    if (q >> 1) & 1 == 1 && (sticky || mantissa & 1 == 1) {
        mantissa += 1;
        if mantissa == 1 << 53 {
            mantissa >>= 1;
            exp += 1;
        }
    }
    mantissa as f64 * 2f64.powi(exp - 52)
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

/// Append the float of a fixed-point value as orjson writes it. Between 10^-5 and 10^7 units
/// (1000 <= value < 10^15) the value has at most 15 significant digits, so the shortest decimal
/// that round-trips its nearest double is the value's own decimal text (15 digits always
/// round-trip a double), and ryu's / orjson's notation for that range is plain "123.45" / "5.0":
/// the digits are written straight from the integer. Elsewhere: the float, through ryu.
#[inline]
pub fn write_fixed_as_float(out: &mut Vec<u8>, value: u128, buf: &mut ryu::Buffer) {
    if !(1_000..1_000_000_000_000_000).contains(&value) {
        write_f64(out, to_f64(value), buf);
        return;
    }
    let value = value as u64;
    let (int, frac) = ((value / 100_000_000) as u32, (value % 100_000_000) as u32);
    write_below_10_8(out, int);
    if frac == 0 {
        push_word(out, u64::from_le_bytes(*b".0\0\0\0\0\0\0"), 2);
        return;
    }
    push_word(out, b'.' as u64, 1);
    let digits = eight_digits(frac);
    // the last digits are the word's high bytes: its zero bytes there are trailing zeros
    push_word(out, digits + ASCII_ZEROS, 8 - (digits.leading_zeros() / 8) as usize);
}

const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;

/// The 8 decimal digits of v < 10^8 as the bytes of a little-endian word, most significant digit
/// first (values 0-9, not yet ASCII), computed in registers ("SWAR": four 2-digit lanes, then
/// eight 1-digit lanes, each division a multiply and shift exact for the lane's range).
#[inline]
fn eight_digits(v: u32) -> u64 {
    let x = (v / 10_000) as u64 | (((v % 10_000) as u64) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F; // x / 100 for x < 10^4 per lane
    let pairs = hundreds | ((x - hundreds * 100) << 16);
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F; // / 10 for < 100 per lane
    tens | ((pairs - tens * 10) << 8)
}

/// Append the first n bytes of a little-endian word: one 8-byte store into reserved room, then
/// the length set (variable-length copies of a few bytes would each be a memcpy call).
#[inline]
fn push_word(out: &mut Vec<u8>, word: u64, n: usize) {
    debug_assert!(n <= 8);
    out.reserve(8);
    let len = out.len();
    // SAFETY: 8 bytes are reserved past len; the first n of them are the digits written.
    unsafe {
        (out.as_mut_ptr().add(len) as *mut u64).write_unaligned(word.to_le());
        out.set_len(len + n);
    }
}

/// Append v < 10^8 in decimal, without leading zeros ("0" for 0).
#[inline]
fn write_below_10_8(out: &mut Vec<u8>, v: u32) {
    let digits = eight_digits(v);
    // the first digits are the word's low bytes: its zero bytes there are leading zeros
    let leading = if v == 0 { 7 } else { (digits.trailing_zeros() / 8) as usize };
    push_word(out, (digits >> (8 * leading)) + ASCII_ZEROS, 8 - leading);
}

/// Append an unsigned integer in decimal.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    const E8: u64 = 100_000_000;
    if value < E8 {
        write_below_10_8(out, value as u32);
    } else if value < E8 * E8 {
        write_below_10_8(out, (value / E8) as u32);
        push_word(out, eight_digits((value % E8) as u32) + ASCII_ZEROS, 8);
    } else {
        write_below_10_8(out, (value / (E8 * E8)) as u32);
        push_word(out, eight_digits((value / E8 % E8) as u32) + ASCII_ZEROS, 8);
        push_word(out, eight_digits((value % E8) as u32) + ASCII_ZEROS, 8);
    }
}

#[inline]
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(value: u128) -> String {
        let mut out = Vec::new();
        write_fixed_as_float(&mut out, value, &mut ryu::Buffer::new());
        String::from_utf8(out).unwrap()
    }

    fn float_text(value: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, value, &mut ryu::Buffer::new());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_are_written_in_decimal() {
        let mut values = vec![0u64, 1, 9, 10, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1, 1 << 63];
        let mut x = 1u64;
        while x < u64::MAX / 7 {
            values.extend([x - 1, x, x + 1]);
            x = x * 7 + 3;
        }
        for value in values {
            let mut out = b"x".to_vec();
            write_u64(&mut out, value);
            assert_eq!(out, format!("x{value}").into_bytes(), "{value}");
        }
    }

    #[test]
    fn decimal_strings_become_exact_fixed_point() {
        assert_eq!(parse_fixed(b"0"), Some(0));
        assert_eq!(parse_fixed(b"1"), Some(100_000_000));
        assert_eq!(parse_fixed(b"2500.01"), Some(250_001_000_000));
        assert_eq!(parse_fixed(b"0.00000001"), Some(1));
        assert_eq!(parse_fixed(b".5"), Some(50_000_000));
        assert_eq!(parse_fixed(b"7."), Some(700_000_000));
        // Binance pads to 8 decimals and more; zeros past the 8th are fine, digits are not
        assert_eq!(parse_fixed(b"0.1000000000"), Some(10_000_000));
        assert_eq!(parse_fixed(b"0.000000001"), None);
    }

    #[test]
    fn what_python_rejects_is_refused() {
        for bad in [&b""[..], b".", b"-1", b"+1", b"1e5", b"1.2.3", b" 1", b"1,5", b"NaN", b"inf", b"0x10"] {
            assert_eq!(parse_fixed(bad), None, "{:?}", std::str::from_utf8(bad));
        }
        // longer than 64 characters
        assert_eq!(parse_fixed("1".repeat(65).as_bytes()), None);
    }

    #[test]
    fn the_short_and_long_paths_agree() {
        // 19 characters go the u64 way, 20 and more the checked u128 way
        let cases = ["1234567890.12345678", "01234567890.12345678", "000000000000000000001.5", "99999999999.0000000000"];
        for text in cases {
            let padded = format!("{text}0");
            assert_eq!(parse_fixed(text.as_bytes()), parse_fixed(padded.as_bytes()), "{text}");
        }
        assert_eq!(parse_fixed(b"1234567890.12345678"), Some(123_456_789_012_345_678));
    }

    #[test]
    fn values_from_2_to_the_127_are_refused() {
        // MAX_FIXED / 10^8 = 1701411834604692317316873037158.84105728
        assert_eq!(parse_fixed(b"1701411834604692317316873037158.84105727"), Some(MAX_FIXED - 1));
        assert_eq!(parse_fixed(b"1701411834604692317316873037158.84105728"), None);
        assert_eq!(parse_fixed(b"99999999999999999999999999999999999999999"), None); // overflows u128
    }

    #[test]
    fn fixed_point_converts_to_the_nearest_double() {
        for (value, text) in [
            (1u128, "0.00000001"),
            (250_001_000_000, "2500.01"),
            (123_456_789_012_345_678, "1234567890.12345678"),
            ((1u128 << 53) + 1, "90071992.54740993"),
            (MAX_FIXED - 1, "1701411834604692317316873037158.84105727"),
        ] {
            assert_eq!(to_f64(value), text.parse::<f64>().unwrap(), "{text}");
        }
    }

    #[test]
    fn ratios_round_to_the_nearest_double() {
        // the fast path and the long division agree wherever both apply
        let mut x: u128 = 7;
        for _ in 0..2000 {
            let (a, b, c, d) = (x % 100_000_000_000, x % 97 + 1, x % 1000 + 1, (x >> 7) % 1_000_000_000 + 1);
            let fast = ratio_to_f64(a, b, c, d);
            assert_eq!(fast, divide_rounded(U256::mul(a, b), U256::mul(c, d)), "{a}*{b}/({c}*{d})");
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) % (1 << 100);
        }
        // values from Python: (10**30 * 3) / (7 * 10**8), 2**200 / 3, halfway cases to even
        assert_eq!(ratio_to_f64(10u128.pow(30), 3, 7, 100_000_000), 4.285714285714286e21);
        assert_eq!(ratio_to_f64(1 << 100, 1 << 100, 3, 1), 5.356460147529967e59);
        assert_eq!(ratio_to_f64((1 << 53) + 1, 1 << 70, 1 << 70, 1), 9007199254740992.0);
        assert_eq!(ratio_to_f64((1 << 53) + 3, 1 << 70, 1 << 70, 1), 9007199254740996.0);
        assert_eq!(ratio_to_f64(0, 5, 1, 1), 0.0);
    }

    #[test]
    fn floats_are_written_as_orjson_writes_them() {
        assert_eq!(float_text(100.0), "100.0");
        assert_eq!(float_text(2500.01), "2500.01");
        assert_eq!(float_text(1e16), "1e+16");
        assert_eq!(float_text(1e-8), "1e-8");
        assert_eq!(float_text(0.00001), "0.00001");
        assert_eq!(float_text(0.0), "0.0");
    }

    #[test]
    fn fixed_point_text_is_the_shortest_text_of_its_float() {
        // the digits written straight from the integer equal ryu's for the nearest double
        let mut value: u128 = 1;
        let mut step: u128 = 1;
        while value < 1u128 << 70 {
            assert_eq!(text_of(value), float_text(to_f64(value)), "{value}");
            value += step;
            step = step * 3 + 7;
        }
        for value in [1_000u128, 999, 1_000_000_000_000_000, 999_999_999_999_999, 100_000_000, 12_345_000] {
            assert_eq!(text_of(value), float_text(to_f64(value)), "{value}");
        }
    }
}
