//! One symbol's exact book and its diff-depth sync state (the live half of `producer.sync.BookSync`).
//!
//! Prices and sizes are integers of fixed point (10^8), each side a BTreeMap: ordered, so the top
//! N is a walk from one end, and every update is O(log n) wherever it lands in a 1000-level book.
//! The waiting half of the procedure (buffering events until a snapshot) stays in Python
//! (`producer.native_sync.NativeBookSync`): it runs once per (re)sync, not per frame.

use std::collections::BTreeMap;

use pyo3::prelude::*;

use crate::decimal::{ratio_to_f64, to_f64, write_f64, write_fixed_as_float, write_i64, write_u64};
use crate::stream_book::{TextSides, Units};

pub const APPLIED: u8 = 0;
pub const STALE: u8 = 2;
pub const NEED_SNAPSHOT: u8 = 3;
/// A stream book's levels applied but their checksum differs from the venue's (ids not moved on).
pub const CHECKSUM_MISMATCH: u8 = 4;
/// producer.engine.Outcome.SHALLOW: the levels applied, but a book from a bounded snapshot knows
/// fewer levels completely than it publishes on a side (nothing is published: resync).
pub const SHALLOW: u8 = 5;

#[pyclass(module = "obm_book_native")]
pub struct NativeBook {
    pub(crate) bids: BTreeMap<u128, u128>,
    pub(crate) asks: BTreeMap<u128, u128>,
    #[pyo3(get)]
    pub symbol: String,
    spot: bool,
    #[pyo3(get)]
    pub depth: usize,
    prefix: Vec<u8>,
    /// JSON members written after `crossed`, each with its leading comma (the normalized
    /// instrument once the listing is read, `set_tail`); empty: none.
    tail: Vec<u8>,
    #[pyo3(get, set)]
    pub live: bool,
    #[pyo3(get, set)]
    pub local_id: u64,
    #[pyo3(get, set)]
    pub fresh: bool,
    #[pyo3(get, set)]
    pub last_published: Option<u64>,
    #[pyo3(get)]
    pub record_prev_id: Option<u64>,
    #[pyo3(get)]
    pub record_resynced: bool,
    #[pyo3(get, set)]
    pub stale_events: u64,
    /// Records of this book that were crossed (best bid >= best ask).
    #[pyo3(get)]
    pub crossed: u64,
    float_buf: ryu::Buffer,
    pub(crate) units: Units,
    /// The venue's texts of every level, where it checksums the top `checksum_depth` of them.
    pub(crate) texts: Option<Box<TextSides>>,
    pub(crate) checksum_depth: usize,
    /// The snapshot's boundary per side (producer/book.py, bounded snapshots): bids at or above
    /// `bid_bound`, asks at or below `ask_bound` are known complete and counted in `*_known`. A
    /// whole side has the bound that takes every price (0, u128::MAX).
    #[pyo3(get)]
    pub bounded: bool,
    bid_bound: u128,
    ask_bound: u128,
    bid_known: usize,
    ask_known: usize,
}

impl NativeBook {
    /// Whether a bounded book knows fewer than `depth` levels completely on a side (BookSync's
    /// `book.bounded and book.short_side(depth)`).
    #[inline]
    pub fn shallow(&self) -> bool {
        self.bounded && self.short_side(self.depth).is_some()
    }

    fn unbound(&mut self) {
        self.bounded = false;
        self.bid_bound = 0;
        self.ask_bound = u128::MAX;
        self.bid_known = self.bids.len();
        self.ask_known = self.asks.len();
    }

    /// Binance's continuity rule for a live book; changes nothing on a gap (the caller resyncs).
    #[inline]
    pub fn step_fields(&mut self, first_id: u64, final_id: u64, prev_final_id: Option<u64>) -> u8 {
        let local = self.local_id;
        if self.spot {
            if final_id <= local {
                self.stale_events += 1;
                return STALE;
            }
            if first_id as u128 > local as u128 + 1 {
                return NEED_SNAPSHOT;
            }
        } else if self.fresh {
            if final_id < local {
                self.stale_events += 1;
                return STALE;
            }
            if first_id > local {
                return NEED_SNAPSHOT;
            }
        } else {
            if final_id <= local {
                self.stale_events += 1;
                return STALE;
            }
            if prev_final_id != Some(local) {
                return NEED_SNAPSHOT;
            }
        }
        APPLIED
    }

    /// After APPLIED: the levels go in, then the ids move on (same order as BookSync._step). The
    /// live paths check for a shallow book between the two (`step`, NativeFeed); the tests' shorthand.
    #[cfg(test)]
    pub fn apply_columns(&mut self, bp: &[u128], bs: &[u128], ap: &[u128], asz: &[u128], final_id: u64) {
        self.apply_levels(bp, bs, ap, asz);
        self.advance(final_id);
    }

    /// The levels of one event, in order (size 0 removes a level); counts the levels inside
    /// each side's boundary as OrderBook's apply loops do.
    #[inline]
    pub fn apply_levels(&mut self, bp: &[u128], bs: &[u128], ap: &[u128], asz: &[u128]) {
        let (bound, mut known) = (self.bid_bound, self.bid_known);
        for (&p, &s) in bp.iter().zip(bs) {
            if s == 0 {
                if self.bids.remove(&p).is_some() && p >= bound {
                    known -= 1;
                }
            } else if self.bids.insert(p, s).is_none() && p >= bound {
                known += 1;
            }
        }
        self.bid_known = known;
        let (bound, mut known) = (self.ask_bound, self.ask_known);
        for (&p, &s) in ap.iter().zip(asz) {
            if s == 0 {
                if self.asks.remove(&p).is_some() && p <= bound {
                    known -= 1;
                }
            } else if self.asks.insert(p, s).is_none() && p <= bound {
                known += 1;
            }
        }
        self.ask_known = known;
    }

    /// The book is at `final_id` and its next record follows the last one published.
    #[inline]
    pub fn advance(&mut self, final_id: u64) {
        self.local_id = final_id;
        self.record_prev_id = self.last_published;
        self.record_resynced = self.fresh;
        self.last_published = Some(final_id);
        self.fresh = false;
    }

    /// The orderbook.raw record of the current state, byte for byte what `orjson.dumps` makes of
    /// the Python record dict; also whether the book is crossed (compared as the floats are).
    pub fn record_json(
        &mut self,
        out: &mut Vec<u8>,
        event_time: u64,
        transaction_time: Option<u64>,
        receive_time_ns: i64,
        seq: u64,
    ) -> bool {
        out.clear();
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b",\"event_time\":");
        write_u64(out, event_time);
        out.extend_from_slice(b",\"transaction_time\":");
        match transaction_time {
            Some(t) => write_u64(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"receive_time_ns\":");
        write_i64(out, receive_time_ns);
        out.extend_from_slice(b",\"sequence_id\":");
        write_u64(out, seq);
        out.extend_from_slice(b",\"prev_sequence_id\":");
        match self.record_prev_id {
            Some(p) => write_u64(out, p),
            None => out.extend_from_slice(b"null"),
        }
        let n = self.depth;
        let buf = &mut self.float_buf;
        let units = self.units;
        let best_bid =
            write_side(out, b",\"bid_prices\":[", b"],\"bid_sizes\":[", self.bids.iter().rev().take(n), units, buf);
        let best_ask =
            write_side(out, b"],\"ask_prices\":[", b"],\"ask_sizes\":[", self.asks.iter().take(n), units, buf);
        let crossed = matches!((best_bid, best_ask), (Some(b), Some(a)) if b >= a);
        self.crossed += crossed as u64;
        out.extend_from_slice(b"],\"resynced\":");
        out.extend_from_slice(if self.record_resynced { b"true" } else { b"false" });
        out.extend_from_slice(b",\"crossed\":");
        out.extend_from_slice(if crossed { b"true" } else { b"false" });
        out.extend_from_slice(&self.tail);
        out.push(b'}');
        crossed
    }
}

/// Prices list, then sizes list, of up to n levels; returns the best price as a float. Sizes in
/// contracts are published in base units, each one int / int division correctly rounded (as
/// Python's true division of the same integers).
fn write_side<'a>(
    out: &mut Vec<u8>,
    open: &[u8],
    middle: &[u8],
    levels: impl Iterator<Item = (&'a u128, &'a u128)> + Clone,
    units: Units,
    buf: &mut ryu::Buffer,
) -> Option<f64> {
    out.extend_from_slice(open);
    let mut best = None;
    for (i, (&p, _)) in levels.clone().enumerate() {
        if i == 0 {
            best = Some(to_f64(p));
        } else {
            out.push(b',');
        }
        write_fixed_as_float(out, p, buf);
    }
    out.extend_from_slice(middle);
    for (i, (&p, &s)) in levels.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match units {
            Units::Linear(num, den) => write_f64(out, ratio_to_f64(s, num, den, SCALE), buf),
            Units::Inverse(num, den) => write_f64(out, ratio_to_f64(s, num, den, p), buf),
            _ => write_fixed_as_float(out, s, buf),
        }
    }
    best
}

const SCALE: u128 = 100_000_000;

mod py;

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &[u8] = br#"{"schema_version":1,"exchange":"binance","market":"spot","symbol":"ETHUSDT""#;

    fn fx(units: f64) -> u128 {
        (units * 1e8).round() as u128
    }

    fn live_book(spot: bool, depth: usize) -> NativeBook {
        let mut book = NativeBook::new("ETHUSDT".into(), spot, depth, PREFIX.to_vec(), false, 0);
        book.load(vec![fx(100.0), fx(99.0)], vec![fx(1.0), fx(2.0)], vec![fx(101.0), fx(102.0)], vec![fx(3.0), fx(4.0)], None)
            .unwrap();
        book.local_id = 10;
        book.live = true;
        book
    }

    #[test]
    fn applying_levels_inserts_replaces_and_removes() {
        let mut book = live_book(true, 20);
        assert_eq!(book.step_fields(11, 12, None), APPLIED);
        // bid 100 removed (size 0), bid 99.5 added, ask 101 replaced
        book.apply_columns(&[fx(100.0), fx(99.5)], &[0, fx(5.0)], &[fx(101.0)], &[fx(7.0)], 12);
        assert_eq!(book.levels("bids", None), vec![(fx(99.5), fx(5.0)), (fx(99.0), fx(2.0))]);
        assert_eq!(book.levels("asks", Some(1)), vec![(fx(101.0), fx(7.0))]);
        assert_eq!(book.local_id, 12);
        assert_eq!(book.last_published, Some(12));
        // removing a level that is not there changes nothing
        book.apply_columns(&[fx(50.0)], &[0], &[], &[], 13);
        assert_eq!(book.side_len("bids"), 2);
    }

    #[test]
    fn the_continuity_rules_of_spot_and_usdm() {
        let mut spot = live_book(true, 20);
        assert_eq!(spot.step_fields(5, 10, None), STALE);
        assert_eq!(spot.stale_events, 1);
        assert_eq!(spot.step_fields(12, 15, None), NEED_SNAPSHOT); // a gap: 11 is missing
        assert_eq!(spot.step_fields(8, 15, None), APPLIED); // overlaps the local id
        let mut usdm = live_book(false, 20);
        assert_eq!(usdm.step_fields(11, 12, Some(10)), APPLIED);
        assert_eq!(usdm.step_fields(11, 12, Some(9)), NEED_SNAPSHOT); // pu must be the local id
        assert_eq!(usdm.step_fields(3, 10, Some(2)), STALE);
        // the first event after a snapshot: it must straddle the snapshot's id
        usdm.fresh = true;
        assert_eq!(usdm.step_fields(11, 12, Some(10)), NEED_SNAPSHOT);
        assert_eq!(usdm.step_fields(9, 12, Some(8)), APPLIED);
    }

    #[test]
    fn the_record_is_the_json_of_the_top_levels() {
        let mut book = live_book(true, 1);
        book.apply_columns(&[], &[], &[], &[], 11);
        let mut out = Vec::new();
        let crossed = book.record_json(&mut out, 1_723_161_240_000, None, 42, 7);
        assert!(!crossed);
        let expected = concat!(
            r#"{"schema_version":1,"exchange":"binance","market":"spot","symbol":"ETHUSDT","#,
            r#""event_time":1723161240000,"transaction_time":null,"receive_time_ns":42,"sequence_id":7,"#,
            r#""prev_sequence_id":null,"bid_prices":[100.0],"bid_sizes":[1.0],"ask_prices":[101.0],"#,
            r#""ask_sizes":[3.0],"resynced":false,"crossed":false}"#
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn the_tail_ends_every_record() {
        let mut book = live_book(true, 1);
        book.set_tail(br#","base":"ETH","quote":"USDT","kind":"spot","contract_size":null"#.to_vec());
        book.apply_columns(&[], &[], &[], &[], 11);
        let mut out = Vec::new();
        book.record_json(&mut out, 1, None, 2, 3);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(r#""crossed":false,"base":"ETH","quote":"USDT","kind":"spot","contract_size":null}"#),
            "{text}"
        );
    }

    #[test]
    fn a_bounded_book_counts_the_levels_inside_its_boundary() {
        let mut book = live_book(true, 2);
        // limit 2: 2 bids are full, bounded at 99; 1 ask is the whole side
        book.load(vec![fx(100.0), fx(99.0)], vec![fx(1.0); 2], vec![fx(101.0)], vec![fx(1.0)], Some(2))
            .unwrap();
        book.live = true;
        assert!(book.bounded && !book.shallow());
        assert_eq!((book.boundary("bids"), book.boundary("asks")), (Some(fx(99.0)), None));
        // a level past the boundary is learned, not counted; one inside is
        book.apply_levels(&[fx(90.0), fx(99.5)], &[fx(1.0), fx(1.0)], &[fx(101.0)], &[0]);
        assert_eq!((book.known_levels("bids"), book.known_levels("asks")), (Some(3), None));
        book.apply_levels(&[fx(100.0), fx(99.5), fx(85.0)], &[0, 0, 0], &[], &[]);
        assert_eq!(book.known_levels("bids"), Some(1));
        assert!(book.shallow() && book.short_side(2) == Some("bids"));
        assert_eq!(book.step(11, 11, None, vec![], vec![], vec![], vec![]).unwrap(), SHALLOW);
        book.clear();
        assert!(!book.bounded && !book.shallow());
    }

    #[test]
    fn a_crossed_book_is_counted() {
        let mut book = live_book(true, 5);
        book.apply_columns(&[fx(101.5)], &[fx(1.0)], &[], &[], 11);
        let mut out = Vec::new();
        assert!(book.record_json(&mut out, 1, Some(2), 3, 4));
        assert!(book.is_crossed());
        assert_eq!(book.crossed, 1);
        let (bp, _, ap, _) = book.top(5);
        assert_eq!(bp, vec![101.5, 100.0, 99.0]);
        assert_eq!(ap, vec![101.0, 102.0]);
    }
}
