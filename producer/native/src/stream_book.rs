//! The half of `NativeBook` that keeps books of venues sending them in the stream (OKX, Bybit,
//! Hyperliquid: producer/stream_sync.py is the reference): their chain rule, the venue's texts of
//! every level and the CRC32 checksum over them, whole books, and the units of the sizes (the
//! record publishes contracts as base units, producer/contract_sync.py).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;

use crate::book::{NativeBook, APPLIED, CHECKSUM_MISMATCH, NEED_SNAPSHOT, STALE};

/// What one size of the book is in the record (`producer.contract_sync.ContractBook.top`).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Units {
    /// Not known yet: a stream book publishes nothing before `use_instrument` (Python raises).
    Unknown,
    /// Base units as the venue sends them.
    Base,
    /// Contracts worth num/den base units each: size * num / den.
    Linear(u128, u128),
    /// Contracts worth num/den quote units each: size * num / (den * price).
    Inverse(u128, u128),
}

/// The levels' texts as the venue wrote them, `price:size` per level, for one frame: an arena
/// and each side's spans in it (reused from frame to frame).
#[derive(Default)]
pub struct Texts {
    pub arena: Vec<u8>,
    pub bids: Vec<(u32, u32)>,
    pub asks: Vec<(u32, u32)>,
}

impl Texts {
    pub fn clear(&mut self) {
        self.arena.clear();
        self.bids.clear();
        self.asks.clear();
    }

    /// Append `price:size` to one side.
    pub fn push(&mut self, bid: bool, price: &[u8], size: &[u8]) {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(price);
        self.arena.push(b':');
        self.arena.extend_from_slice(size);
        let span = (start, self.arena.len() as u32);
        if bid { self.bids.push(span) } else { self.asks.push(span) }
    }

    pub fn from_py(bids: &[String], asks: &[String]) -> Self {
        let mut texts = Texts::default();
        for (side, list) in [(true, bids), (false, asks)] {
            for text in list {
                let start = texts.arena.len() as u32;
                texts.arena.extend_from_slice(text.as_bytes());
                let span = (start, texts.arena.len() as u32);
                if side { texts.bids.push(span) } else { texts.asks.push(span) }
            }
        }
        texts
    }
}

thread_local! {
    /// checksum_ok's buffer, reused from message to message.
    static CHECKSUM_TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Each side's `price:size` texts by price (venues that checksum their books over their strings).
pub type TextSides = (TextMap, TextMap);
pub type TextMap = HashMap<u128, Text, BuildHasherDefault<PriceHasher>>;

/// A level's `price:size` text: inline up to 38 bytes (any real level's), else on the heap, so
/// keeping the texts of a frame's levels allocates nothing.
pub enum Text {
    Inline(u8, [u8; 38]),
    Heap(Box<[u8]>),
}

impl Text {
    #[inline]
    fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= 38 {
            let mut inline = [0u8; 38];
            inline[..bytes.len()].copy_from_slice(bytes);
            Text::Inline(bytes.len() as u8, inline)
        } else {
            Text::Heap(bytes.into())
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline(len, bytes) => &bytes[..*len as usize],
            Text::Heap(bytes) => bytes,
        }
    }
}

/// A hasher for fixed-point prices (the map's keys are ours, not an attacker's: no need for
/// SipHash's flood resistance): one multiply-rotate per half of the u128.
#[derive(Default)]
pub struct PriceHasher(u64);

impl Hasher for PriceHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_u128(&mut self, value: u128) {
        self.write_u64(value as u64);
        self.write_u64((value >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl NativeBook {
    /// The chain rule of books snapshotted in the stream (StreamBookSync._step): an update applies
    /// when it follows the book's id; one at or below it is a resend (stale, counted); any other
    /// is a break (NEED_SNAPSHOT). Changes nothing but the stale counter.
    #[inline]
    pub fn chain_step(&mut self, seq: u64, prev: u64) -> u8 {
        let local = self.local_id;
        if prev != local || seq == local {
            if seq <= local {
                self.stale_events += 1;
                return STALE;
            }
            return NEED_SNAPSHOT;
        }
        APPLIED
    }

    /// After a chained update: its levels, their texts (where the venue checksums), then the
    /// checksum. On CHECKSUM_MISMATCH the levels stay applied and the ids do not move: applying
    /// the same absolute sizes again gives the same book, so the Python path that takes the
    /// frame next reaches the same verdict.
    pub fn apply_update(&mut self, levels: [&[u128]; 4], texts: &Texts, sent: Option<i64>, seq: u64) -> u8 {
        let [bp, bs, ap, asz] = levels;
        self.apply_levels(bp, bs, ap, asz);
        self.apply_texts(bp, bs, ap, asz, texts);
        if !self.checksum_ok(sent) {
            return CHECKSUM_MISMATCH;
        }
        self.advance(seq);
        APPLIED
    }

    pub fn apply_texts(&mut self, bp: &[u128], bs: &[u128], ap: &[u128], asz: &[u128], texts: &Texts) {
        let Some(sides) = self.texts.as_mut() else { return };
        for (side, prices, sizes, spans) in [(&mut sides.0, bp, bs, &texts.bids), (&mut sides.1, ap, asz, &texts.asks)] {
            for ((&p, &s), &(a, b)) in prices.iter().zip(sizes).zip(spans.iter()) {
                if s == 0 {
                    side.remove(&p);
                } else {
                    side.insert(p, Text::new(&texts.arena[a as usize..b as usize]));
                }
            }
        }
    }

    /// True when the venue sent no checksum (None, or 0: OKX's since it deprecated the field),
    /// the book keeps none, or the CRC32 of the top levels' texts, interleaved bid, ask, bid, ...
    /// and joined by ':', taken as a signed 32-bit integer, equals the one sent.
    pub fn checksum_ok(&self, sent: Option<i64>) -> bool {
        let (Some(sent), Some(sides)) = (sent, self.texts.as_ref()) else { return true };
        if sent == 0 {
            return true;
        }
        // The texts joined into one buffer, then one CRC pass (crc32fast: PCLMULQDQ folding where
        // the CPU has it, ~0.1 cycle a byte; fed level by level, a table CRC's byte-at-a-time
        // tail ran for every level's last bytes).
        CHECKSUM_TEXT.with_borrow_mut(|joined| {
            joined.clear();
            let n = self.checksum_depth;
            let (mut bids, mut asks) = (self.bids.keys().rev().take(n), self.asks.keys().take(n));
            loop {
                let (bid, ask) = (bids.next(), asks.next());
                if bid.is_none() && ask.is_none() {
                    break;
                }
                for (price, texts) in [(bid, &sides.0), (ask, &sides.1)] {
                    if let Some(p) = price {
                        let Some(text) = texts.get(p) else { return false };
                        joined.extend_from_slice(text.as_bytes());
                        joined.push(b':');
                    }
                }
            }
            joined.pop(); // the last ':'
            crc32fast::hash(joined) as i32 as i64 == sent
        })
    }

    /// Replace the book by a whole book that is newer than the one published (Hyperliquid's
    /// l2Book, BookSync.on_partial on a live book): its record follows the last one.
    pub fn take_whole_book(&mut self, levels: [&[u128]; 4], id: u64) {
        let [bp, bs, ap, asz] = levels;
        self.bids.clear();
        self.asks.clear();
        self.apply_levels(bp, bs, ap, asz);
        self.record_prev_id = if self.live { Some(self.local_id) } else { None };
        self.record_resynced = !self.live;
        self.live = true;
        self.local_id = id;
    }

    /// Whether records can be made: the units of the sizes are known.
    #[inline]
    pub fn publishable(&self) -> bool {
        self.units != Units::Unknown
    }
}

pub fn check_texts(bp: &[u128], bt: &[String], ap: &[u128], at: &[String]) -> PyResult<()> {
    if bp.len() != bt.len() || ap.len() != at.len() {
        return Err(pyo3::exceptions::PyValueError::new_err("one text per level"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &[u8] = br#"{"schema_version":1,"exchange":"okx_swap","market":"swap","symbol":"BTC-USDT-SWAP""#;
    const UNIT: u128 = 100_000_000;

    fn okx_book() -> NativeBook {
        let mut book = NativeBook::new("BTC-USDT-SWAP".into(), false, 2, PREFIX.to_vec(), true, 25);
        book.live = true;
        book.local_id = 10;
        book
    }

    fn texts(bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Texts {
        let mut t = Texts::default();
        for (p, s) in bids {
            t.push(true, p.as_bytes(), s.as_bytes());
        }
        for (p, s) in asks {
            t.push(false, p.as_bytes(), s.as_bytes());
        }
        t
    }

    #[test]
    fn the_chain_follows_the_previous_id() {
        let mut book = okx_book();
        assert_eq!(book.chain_step(11, 10), APPLIED);
        assert_eq!(book.chain_step(10, 10), STALE); // OKX's no-change message at the book's id
        assert_eq!(book.chain_step(9, 8), STALE); // a resend
        assert_eq!(book.chain_step(13, 12), NEED_SNAPSHOT); // 11 and 12 lost
        assert_eq!(book.stale_events, 2);
    }

    #[test]
    fn the_checksum_is_okxs_over_the_venues_strings() {
        // OKX's documented example: "3366.1:7:3366.8:9", then an extra ask "3368:8"
        let mut book = okx_book();
        let t = texts(&[("3366.1", "7")], &[("3366.8", "9")]);
        let levels = [&[336_610_000_000u128][..], &[7 * UNIT], &[336_680_000_000], &[9 * UNIT]];
        assert_eq!(book.apply_update(levels, &t, Some(-2058547290), 11), APPLIED);
        assert_eq!(book.local_id, 11);
        let t = texts(&[], &[("3368", "8")]);
        let levels = [&[][..], &[], &[336_800_000_000], &[8 * UNIT]];
        assert_eq!(book.apply_update(levels, &t, Some(-1471518219), 12), APPLIED);
        assert!(book.checksum_ok(None) && book.checksum_ok(Some(0))); // none sent: not checked
        // a wrong one: the levels stay applied, the id does not move, and applying them again
        // (the Python path's turn) gives the same book and the same verdict
        let t = texts(&[("3366.1", "0")], &[]);
        let levels = [&[336_610_000_000u128][..], &[0], &[], &[]];
        assert_eq!(book.apply_update(levels, &t, Some(5), 13), CHECKSUM_MISMATCH);
        assert_eq!((book.local_id, book.bids.len()), (12, 0));
        assert_eq!(book.apply_update(levels, &t, Some(5), 13), CHECKSUM_MISMATCH);
        assert_eq!((book.local_id, book.bids.len(), book.asks.len()), (12, 0, 2));
    }

    fn sizes_of(book: &mut NativeBook) -> String {
        let mut out = Vec::new();
        book.record_json(&mut out, 1, None, 2, 3);
        let text = String::from_utf8(out).unwrap();
        let start = text.find("\"bid_sizes\"").unwrap();
        text[start..text.find(",\"ask_prices\"").unwrap()].to_string()
    }

    #[test]
    fn contracts_are_published_in_base_units() {
        // 1.5 contracts of 0.01 BTC at 60000; 5 contracts of 100 USD at 60000 (Python's values)
        let mut book = okx_book();
        assert!(!book.publishable());
        book.take_whole_book([&[60_000 * UNIT][..], &[150_000_000], &[], &[]], 20);
        book.units = Units::Linear(1, 100);
        assert_eq!(sizes_of(&mut book), r#""bid_sizes":[0.015]"#);
        book.units = Units::Inverse(100, 1);
        book.take_whole_book([&[60_000 * UNIT][..], &[5 * UNIT], &[], &[]], 21);
        assert_eq!(sizes_of(&mut book), r#""bid_sizes":[0.008333333333333333]"#);
        assert_eq!((book.record_prev_id, book.local_id), (Some(20), 21));
    }
}
