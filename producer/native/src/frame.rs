//! A strict scanner for Binance combined-stream diff-depth frames:
//! `{"stream":"<name>","data":{"e":"depthUpdate","E":..,"s":"..","U":..,"u":..,"b":[[p,q],..],"a":[..]}}`.
//!
//! It accepts only what it is sure `orjson.loads` + the Python `parse_diff` accept the same way:
//! no string escapes, no duplicate keys among the fields it reads, plain non-negative integers,
//! levels of exactly two decimal strings. Anything else returns None and the caller hands the
//! frame to the Python reference (which either accepts it or names the reason for the DLQ), so a
//! rare shape costs speed, never a different verdict.

use crate::decimal::{parse_fixed, SCALE_DIGITS};

const POW10: [u128; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

pub struct DiffFields<'a> {
    pub stream: &'a [u8],
    pub symbol: &'a [u8],
    pub first_id: u64,
    pub final_id: u64,
    pub prev_final_id: Option<u64>,
    pub event_time: u64,
    pub transaction_time: Option<u64>,
}

/// Scratch columns reused from frame to frame (no allocation per frame once warm).
#[derive(Default)]
pub struct Levels {
    pub prices: Vec<u128>,
    pub sizes: Vec<u128>,
}

impl Levels {
    pub(crate) fn clear(&mut self) {
        self.prices.clear();
        self.sizes.clear();
    }
}

const MAX_DEPTH: u32 = 32;

pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn ws(&mut self) {
        while let Some(&c) = self.buf.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.buf.get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters; returns its raw bytes (valid UTF-8
    /// because the whole input is).
    #[inline]
    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = &self.buf[start..];
        let end = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        self.pos = start + end + 1;
        Some(&rest[..end])
    }

    /// A plain non-negative integer that fits u64 (orjson makes an int of it; Python accepts it).
    #[inline]
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(&c) = self.buf.get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            value = value.checked_mul(10)?.checked_add((c - b'0') as u64)?;
            self.pos += 1;
        }
        let len = self.pos - start;
        if len == 0 || (len > 1 && self.buf[start] == b'0') {
            return None;
        }
        match self.buf.get(self.pos) {
            Some(b'.') | Some(b'e') | Some(b'E') => None, // a float in orjson
            _ => Some(value),
        }
    }

    /// Skip a value the frame does not need, accepting only simple JSON.
    pub(crate) fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                self.pos += 1;
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.uint().map(|_| ()),
        }
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.buf[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A decimal string straight to fixed point in one pass (no separate string scan): the
    /// same verdict as `string()` then `parse_fixed`, which it falls back to for long texts.
    #[inline]
    pub(crate) fn fixed(&mut self) -> Option<u128> {
        self.eat(b'"')?;
        let start = self.pos;
        let buf = self.buf;
        let (mut value, mut whole, mut frac, mut significant, mut dot) = (0u64, 0usize, 0usize, 0usize, false);
        let mut i = start;
        loop {
            if i - start >= 19 {
                // long text: the general parser (u128, length and range checks)
                self.pos = start - 1;
                return parse_fixed(self.string()?);
            }
            let c = *buf.get(i)?;
            if c.is_ascii_digit() {
                if !dot {
                    whole += 1;
                } else {
                    frac += 1;
                    if frac > SCALE_DIGITS {
                        if c != b'0' {
                            return None; // more than 8 significant decimals
                        }
                        i += 1;
                        continue;
                    }
                    significant += 1;
                }
                value = value * 10 + (c - b'0') as u64; // at most 19 digits here: fits
            } else if c == b'.' && !dot {
                dot = true;
            } else if c == b'"' {
                break;
            } else {
                return None;
            }
            i += 1;
        }
        self.pos = i + 1;
        if whole == 0 && frac == 0 {
            return None;
        }
        Some(value as u128 * POW10[SCALE_DIGITS - significant])
    }

    /// `[["price","size"],...]` -> columns, each level validated (price > 0, size >= 0).
    pub(crate) fn levels(&mut self, out: &mut Levels) -> Option<()> {
        out.clear();
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let price = self.fixed()?;
            self.eat(b',')?;
            let size = self.fixed()?;
            self.eat(b']')?;
            if price == 0 {
                return None;
            }
            out.prices.push(price);
            out.sizes.push(size);
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Scan a whole frame. `futures`: the event must carry `pu` and `T` (USD-M), else they are
/// ignored like any other extra field (spot).
pub fn scan_diff<'a>(
    buf: &'a [u8],
    futures: bool,
    bids: &mut Levels,
    asks: &mut Levels,
) -> Option<DiffFields<'a>> {
    let mut cur = Cursor { buf, pos: 0 };
    let mut stream: Option<&[u8]> = None;
    let mut data: Option<DiffFields> = None;
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"stream" if stream.is_none() => stream = Some(cur.string()?),
            b"data" if data.is_none() => data = Some(scan_data(&mut cur, futures, bids, asks)?),
            b"stream" | b"data" => return None, // duplicate: leave last-wins to orjson
            _ => cur.skip(1)?,
        }
        match cur.peek()? {
            b',' => cur.pos += 1,
            b'}' => {
                cur.pos += 1;
                break;
            }
            _ => return None,
        }
    }
    if cur.peek().is_some() {
        return None; // trailing data: orjson rejects the frame
    }
    let mut fields = data?;
    fields.stream = stream?;
    Some(fields)
}

fn scan_data<'a>(
    cur: &mut Cursor<'a>,
    futures: bool,
    bids: &mut Levels,
    asks: &mut Levels,
) -> Option<DiffFields<'a>> {
    let (mut e, mut s, mut big_e, mut big_u, mut u, mut b, mut a, mut pu, mut big_t) =
        (false, None, None, None, None, false, false, None, None);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"e" if !e => {
                if cur.string()? != b"depthUpdate" {
                    return None;
                }
                e = true;
            }
            b"E" if big_e.is_none() => big_e = Some(cur.uint()?),
            b"s" if s.is_none() => s = Some(cur.string()?),
            b"U" if big_u.is_none() => big_u = Some(cur.uint()?),
            b"u" if u.is_none() => u = Some(cur.uint()?),
            b"b" if !b => {
                cur.levels(bids)?;
                b = true;
            }
            b"a" if !a => {
                cur.levels(asks)?;
                a = true;
            }
            b"pu" if futures && pu.is_none() => pu = Some(cur.uint()?),
            b"T" if futures && big_t.is_none() => big_t = Some(cur.uint()?),
            b"e" | b"E" | b"s" | b"U" | b"u" | b"b" | b"a" => return None,
            b"pu" | b"T" if futures => return None,
            _ => cur.skip(2)?,
        }
        match cur.peek()? {
            b',' => cur.pos += 1,
            b'}' => {
                cur.pos += 1;
                break;
            }
            _ => return None,
        }
    }
    if !(e && b && a) {
        return None;
    }
    let (first_id, final_id) = (big_u?, u?);
    if first_id > final_id {
        return None;
    }
    if futures && (pu.is_none() || big_t.is_none()) {
        return None;
    }
    Some(DiffFields {
        stream: b"",
        symbol: s?,
        first_id,
        final_id,
        prev_final_id: pu,
        event_time: big_e?,
        transaction_time: big_t,
    })
}

/// The frame scanner's one-pass decimal parser on one JSON string token (for tests).
pub fn scan_fixed_token(token: &[u8]) -> Option<u128> {
    let mut cur = Cursor { buf: token, pos: 0 };
    let value = cur.fixed()?;
    if cur.pos == token.len() {
        Some(value)
    } else {
        None
    }
}
