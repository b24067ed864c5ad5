//! NativeBook's Python face: construction, snapshots and resyncs, the sync state and the reads
//! (levels, best prices, counters) that `producer.native_sync` and the tests call. The per-frame
//! work is in the parent module (book.rs) and stream_book.rs.

use std::collections::BTreeMap;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::*;
use crate::stream_book::{check_texts, TextMap, Texts, Units};

/// One size per price, or a ValueError for the caller (Python).
fn same_lengths(prices: &[u128], sizes: &[u128]) -> PyResult<()> {
    if prices.len() != sizes.len() {
        return Err(pyo3::exceptions::PyValueError::new_err("prices and sizes differ in length"));
    }
    Ok(())
}

fn load_side(side: &mut BTreeMap<u128, u128>, prices: Vec<u128>, sizes: Vec<u128>) -> PyResult<()> {
    same_lengths(&prices, &sizes)?;
    side.clear();
    for (p, s) in prices.into_iter().zip(sizes) {
        if s != 0 {
            side.insert(p, s);
        }
    }
    Ok(())
}

#[pymethods]
impl NativeBook {
    /// `prefix`: orjson.dumps of {schema_version, exchange, market, symbol} without its closing
    /// brace. `stream`: a book of a venue that sends it in the stream (OKX, Bybit, Hyperliquid),
    /// whose sizes may be contracts (units unknown until `set_units`); `checksum_depth` > 0: the
    /// venue checksums that many top levels per side over its texts, which the book keeps.
    #[new]
    #[pyo3(signature = (symbol, spot, depth, prefix, stream=false, checksum_depth=0))]
    pub(crate) fn new(symbol: String, spot: bool, depth: usize, prefix: Vec<u8>, stream: bool, checksum_depth: usize) -> Self {
        NativeBook {
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            symbol,
            spot,
            depth,
            prefix,
            tail: Vec::new(),
            live: false,
            local_id: 0,
            fresh: false,
            last_published: None,
            record_prev_id: None,
            record_resynced: false,
            stale_events: 0,
            crossed: 0,
            float_buf: ryu::Buffer::new(),
            units: if stream { Units::Unknown } else { Units::Base },
            texts: (checksum_depth > 0).then(|| Box::new((TextMap::default(), TextMap::default()))),
            checksum_depth,
            bounded: false,
            bid_bound: 0,
            ask_bound: u128::MAX,
            bid_known: 0,
            ask_known: 0,
        }
    }

    /// The units of the sizes (ContractBook.use_instrument): "base", or contracts of num/den base
    /// units ("linear") or quote units ("inverse").
    pub(crate) fn set_units(&mut self, mode: &str, num: u128, den: u128) -> PyResult<()> {
        self.units = match mode {
            "base" => Units::Base,
            _ if num == 0 || den == 0 => {
                return Err(pyo3::exceptions::PyValueError::new_err("contract size out of range"))
            }
            "linear" => Units::Linear(num, den),
            "inverse" => Units::Inverse(num, den),
            _ => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown units {mode:?}"))),
        };
        Ok(())
    }

    #[getter]
    pub(crate) fn units_known(&self) -> bool {
        self.publishable()
    }

    /// A whole book from the stream (StreamBookSync._load): its levels and their texts.
    pub(crate) fn load_stream(
        &mut self,
        bid_prices: Vec<u128>,
        bid_sizes: Vec<u128>,
        ask_prices: Vec<u128>,
        ask_sizes: Vec<u128>,
        bid_texts: Vec<String>,
        ask_texts: Vec<String>,
    ) -> PyResult<()> {
        load_side(&mut self.bids, bid_prices.clone(), bid_sizes.clone())?;
        load_side(&mut self.asks, ask_prices.clone(), ask_sizes.clone())?;
        self.unbound();
        if let Some(sides) = self.texts.as_mut() {
            sides.0.clear();
            sides.1.clear();
        }
        if !bid_texts.is_empty() || !ask_texts.is_empty() {
            check_texts(&bid_prices, &bid_texts, &ask_prices, &ask_texts)?;
            let texts = Texts::from_py(&bid_texts, &ask_texts);
            self.apply_texts(&bid_prices, &bid_sizes, &ask_prices, &ask_sizes, &texts);
        }
        Ok(())
    }

    /// StreamBookSync._step for an update parsed by Python: APPLIED (0), STALE (2),
    /// NEED_SNAPSHOT (3: a break) or CHECKSUM_MISMATCH (4). Texts are `price:size` per level
    /// (empty lists: the venue has no checksum).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stream_step(
        &mut self,
        seq: u64,
        prev: u64,
        bid_prices: Vec<u128>,
        bid_sizes: Vec<u128>,
        ask_prices: Vec<u128>,
        ask_sizes: Vec<u128>,
        bid_texts: Vec<String>,
        ask_texts: Vec<String>,
        checksum: Option<i64>,
    ) -> PyResult<u8> {
        same_lengths(&bid_prices, &bid_sizes)?;
        same_lengths(&ask_prices, &ask_sizes)?;
        if !bid_texts.is_empty() || !ask_texts.is_empty() {
            check_texts(&bid_prices, &bid_texts, &ask_prices, &ask_texts)?;
        }
        let outcome = self.chain_step(seq, prev);
        if outcome != APPLIED {
            return Ok(outcome);
        }
        let texts = Texts::from_py(&bid_texts, &ask_texts);
        Ok(self.apply_update([&bid_prices, &bid_sizes, &ask_prices, &ask_sizes], &texts, checksum, seq))
    }

    /// The checksum rule on the current book (see `checksum_ok`).
    #[pyo3(name = "checksum_ok")]
    pub(crate) fn py_checksum_ok(&self, sent: Option<i64>) -> bool {
        self.checksum_ok(sent)
    }

    /// The record of a snapshot from the stream is the first after it: no previous id, resynced.
    pub(crate) fn published_snapshot(&mut self, seq: u64) {
        self.record_prev_id = None;
        self.record_resynced = true;
        self.last_published = Some(seq);
        self.fresh = false;
    }

    /// BookSync.on_partial's replacement of the book by a newer whole book (the caller checked it
    /// is newer): the previous id is the book's when it was live.
    pub(crate) fn whole_book(
        &mut self,
        id: u64,
        bid_prices: Vec<u128>,
        bid_sizes: Vec<u128>,
        ask_prices: Vec<u128>,
        ask_sizes: Vec<u128>,
    ) -> PyResult<()> {
        same_lengths(&bid_prices, &bid_sizes)?;
        same_lengths(&ask_prices, &ask_sizes)?;
        self.take_whole_book([&bid_prices, &bid_sizes, &ask_prices, &ask_sizes], id);
        Ok(())
    }

    /// The members every record ends with, as `,"key":value...` (orjson's text of the Python
    /// record's extra fields without braces, so the two engines' records stay byte-equal).
    pub(crate) fn set_tail(&mut self, tail: Vec<u8>) {
        self.tail = tail;
    }

    /// Replace the whole book (a REST snapshot): levels of size 0 are left out. `limit`: the
    /// levels per side the snapshot was asked for; a side that has that many is bounded at its
    /// last level (OrderBook.load).
    #[pyo3(signature = (bid_prices, bid_sizes, ask_prices, ask_sizes, limit=None))]
    pub(crate) fn load(
        &mut self,
        bid_prices: Vec<u128>,
        bid_sizes: Vec<u128>,
        ask_prices: Vec<u128>,
        ask_sizes: Vec<u128>,
        limit: Option<usize>,
    ) -> PyResult<()> {
        load_side(&mut self.bids, bid_prices, bid_sizes)?;
        load_side(&mut self.asks, ask_prices, ask_sizes)?;
        self.unbound();
        if let Some(limit) = limit.filter(|&l| l > 0) {
            if self.bids.len() >= limit {
                self.bid_bound = *self.bids.keys().next().expect("a full side has levels");
                self.bounded = true;
            }
            if self.asks.len() >= limit {
                self.ask_bound = *self.asks.keys().next_back().expect("a full side has levels");
                self.bounded = true;
            }
        }
        Ok(())
    }

    /// Levels of a bounded side known complete (OrderBook.known_levels); None: a whole side.
    pub(crate) fn known_levels(&self, side: &str) -> Option<usize> {
        if side == "bids" {
            (self.bid_bound != 0).then_some(self.bid_known)
        } else {
            (self.ask_bound != u128::MAX).then_some(self.ask_known)
        }
    }

    /// The side's boundary price, None for a whole side (OrderBook.boundary).
    pub(crate) fn boundary(&self, side: &str) -> Option<u128> {
        if side == "bids" {
            (self.bid_bound != 0).then_some(self.bid_bound)
        } else {
            (self.ask_bound != u128::MAX).then_some(self.ask_bound)
        }
    }

    /// The first side of a bounded book with fewer than n levels known complete (OrderBook.short_side).
    pub(crate) fn short_side(&self, n: usize) -> Option<&'static str> {
        if self.bid_bound != 0 && self.bid_known < n {
            Some("bids")
        } else if self.ask_bound != u128::MAX && self.ask_known < n {
            Some("asks")
        } else {
            None
        }
    }

    pub(crate) fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.unbound();
        if let Some(sides) = self.texts.as_mut() {
            sides.0.clear();
            sides.1.clear();
        }
    }

    /// BookSync._step for an event parsed by Python: APPLIED (0), STALE (2), NEED_SNAPSHOT (3) or
    /// SHALLOW (5: applied, the book at final_id, nothing to publish).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &mut self,
        first_id: u64,
        final_id: u64,
        prev_final_id: Option<u64>,
        bid_prices: Vec<u128>,
        bid_sizes: Vec<u128>,
        ask_prices: Vec<u128>,
        ask_sizes: Vec<u128>,
    ) -> PyResult<u8> {
        same_lengths(&bid_prices, &bid_sizes)?;
        same_lengths(&ask_prices, &ask_sizes)?;
        let outcome = self.step_fields(first_id, final_id, prev_final_id);
        if outcome == APPLIED {
            self.apply_levels(&bid_prices, &bid_sizes, &ask_prices, &ask_sizes);
            if self.shallow() {
                self.local_id = final_id;
                return Ok(SHALLOW);
            }
            self.advance(final_id);
        }
        Ok(outcome)
    }

    /// The record of the current state as JSON bytes, and whether the book is crossed.
    pub(crate) fn record<'py>(
        &mut self,
        py: Python<'py>,
        event_time: u64,
        transaction_time: Option<u64>,
        receive_time_ns: i64,
        seq: u64,
    ) -> (Bound<'py, PyBytes>, bool) {
        let mut out = Vec::with_capacity(1024);
        let crossed = self.record_json(&mut out, event_time, transaction_time, receive_time_ns, seq);
        (PyBytes::new(py, &out), crossed)
    }

    /// Exact (price, size) levels of one side, best first (all of them, or the best n).
    #[pyo3(signature = (side, n=None))]
    pub(crate) fn levels(&self, side: &str, n: Option<usize>) -> Vec<(u128, u128)> {
        let n = n.unwrap_or(usize::MAX);
        if side == "bids" {
            self.bids.iter().rev().take(n).map(|(&p, &s)| (p, s)).collect()
        } else {
            self.asks.iter().take(n).map(|(&p, &s)| (p, s)).collect()
        }
    }

    /// Top n per side as floats: bid prices (descending), bid sizes, ask prices, ask sizes.
    pub(crate) fn top(&self, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let b: Vec<_> = self.bids.iter().rev().take(n).collect();
        let a: Vec<_> = self.asks.iter().take(n).collect();
        (
            b.iter().map(|(&p, _)| to_f64(p)).collect(),
            b.iter().map(|(_, &s)| to_f64(s)).collect(),
            a.iter().map(|(&p, _)| to_f64(p)).collect(),
            a.iter().map(|(_, &s)| to_f64(s)).collect(),
        )
    }

    pub(crate) fn best_bid(&self) -> Option<(u128, u128)> {
        self.bids.iter().next_back().map(|(&p, &s)| (p, s))
    }

    pub(crate) fn best_ask(&self) -> Option<(u128, u128)> {
        self.asks.iter().next().map(|(&p, &s)| (p, s))
    }

    pub(crate) fn is_crossed(&self) -> bool {
        matches!((self.bids.keys().next_back(), self.asks.keys().next()), (Some(b), Some(a)) if b >= a)
    }

    pub(crate) fn side_len(&self, side: &str) -> usize {
        if side == "bids" { self.bids.len() } else { self.asks.len() }
    }

    pub(crate) fn size_at(&self, side: &str, price: u128) -> u128 {
        let book = if side == "bids" { &self.bids } else { &self.asks };
        book.get(&price).copied().unwrap_or(0)
    }

    pub(crate) fn __len__(&self) -> usize {
        self.bids.len() + self.asks.len()
    }
}
