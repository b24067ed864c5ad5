//! The compiled hot path of venues that send the book in the stream: OKX `books` updates (seqId
//! chain, CRC32 of the top 25 levels over the venue's strings), Bybit `orderbook.N` deltas (u
//! chain) and Hyperliquid `l2Book` whole books (ordered by time). `NativeStreamFeed.on_frame`
//! scans one frame, routes it to its book, checks the chain (and checksum), applies it and makes
//! the top-N record, like `producer.stream_feed.StreamBookFeed` does through
//! `producer.stream_sync`. It takes the steady state of a live book only; every other frame
//! (snapshots, control messages, trades, anything unusual or invalid, a break, a checksum
//! mismatch, a book not live) is handed back and the Python reference decides, so the verdicts
//! are the reference's own.
//!
//! The frames are read by venue_frames.rs.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::book::{NativeBook, APPLIED, STALE};
use crate::frame::Levels;
use crate::stream_book::Texts;
use crate::venue_frames::{scan_bybit, scan_hyperliquid, scan_okx, Protocol};
use crate::{count_lag, frame_bytes};

/// What the compiled path did with a frame.
enum Taken {
    Record(usize),
    Stale,
    Deferred,
}

#[pyclass(module = "obm_book_native")]
pub struct NativeStreamFeed {
    protocol: Protocol,
    routes: HashMap<Vec<u8>, usize>,
    books: Vec<Py<NativeBook>>,
    bids: Levels,
    asks: Levels,
    texts: Texts,
    out: Vec<u8>,
    /// Frames handed back to Python (snapshots, control messages and trades included).
    #[pyo3(get)]
    deferred: u64,
    lag_bounds: Vec<i64>,
    #[pyo3(get)]
    lag_buckets: Vec<u64>,
    #[pyo3(get)]
    lag_sum_ms: i128,
    #[pyo3(get)]
    lag_count: u64,
}

impl NativeStreamFeed {
    fn route_of(protocol: Protocol, stream: String) -> Vec<u8> {
        match protocol {
            // `books:BTC-USDT` (okx_spot.stream_of) is routed by the instId the push names
            Protocol::Okx => stream.strip_prefix("books:").unwrap_or(&stream).as_bytes().to_vec(),
            Protocol::Bybit | Protocol::Hyperliquid => stream.into_bytes(),
        }
    }

    fn take(&mut self, py: Python<'_>, bytes: &[u8], receive_time_ns: i64) -> Taken {
        let fields = match self.protocol {
            Protocol::Okx => scan_okx(bytes, &mut self.bids, &mut self.asks, &mut self.texts),
            Protocol::Bybit => scan_bybit(bytes, &mut self.bids, &mut self.asks),
            Protocol::Hyperliquid => scan_hyperliquid(bytes, &mut self.bids, &mut self.asks),
        };
        let Some(fields) = fields else { return Taken::Deferred };
        let Some(&index) = self.routes.get(fields.route) else { return Taken::Deferred };
        let mut book = self.books[index].bind(py).borrow_mut();
        if !book.live || !book.publishable() || fields.symbol.is_some_and(|s| s != book.symbol.as_bytes()) {
            return Taken::Deferred;
        }
        let levels = [&self.bids.prices[..], &self.bids.sizes[..], &self.asks.prices[..], &self.asks.sizes[..]];
        if self.protocol == Protocol::Hyperliquid {
            if fields.seq <= book.local_id {
                book.stale_events += 1;
                return Taken::Stale;
            }
            book.take_whole_book(levels, fields.seq);
        } else {
            match book.chain_step(fields.seq, fields.prev) {
                APPLIED => {}
                STALE => return Taken::Stale,
                _ => return Taken::Deferred,
            }
            if book.apply_update(levels, &self.texts, fields.checksum, fields.seq) != APPLIED {
                return Taken::Deferred;
            }
        }
        book.record_json(&mut self.out, fields.event_time, fields.transaction_time, receive_time_ns, fields.seq);
        count_lag(
            &self.lag_bounds,
            &mut self.lag_buckets,
            &mut self.lag_sum_ms,
            &mut self.lag_count,
            receive_time_ns,
            fields.event_time,
        );
        Taken::Record(index)
    }
}

#[pymethods]
impl NativeStreamFeed {
    /// `protocol`: okx, bybit or hyperliquid; `streams[i]` is the stream whose messages go to
    /// `books[i]` (stream books: NativeBook(..., stream=True)).
    #[new]
    fn new(protocol: &str, streams: Vec<String>, books: Vec<Py<NativeBook>>, lag_bounds: Vec<i64>) -> PyResult<Self> {
        let protocol = match protocol {
            "okx" => Protocol::Okx,
            "bybit" => Protocol::Bybit,
            "hyperliquid" => Protocol::Hyperliquid,
            other => return Err(pyo3::exceptions::PyValueError::new_err(format!("no compiled protocol {other:?}"))),
        };
        let mut feed = NativeStreamFeed {
            protocol,
            routes: HashMap::new(),
            books,
            bids: Levels::default(),
            asks: Levels::default(),
            texts: Texts::default(),
            out: Vec::with_capacity(2048),
            deferred: 0,
            lag_buckets: vec![0; lag_bounds.len() + 1],
            lag_bounds,
            lag_sum_ms: 0,
            lag_count: 0,
        };
        feed.set_streams(streams)?;
        Ok(feed)
    }

    /// Route by these stream names from now on, in the books' order (the service renames streams
    /// to the venue's names once the listing is read).
    fn set_streams(&mut self, streams: Vec<String>) -> PyResult<()> {
        if streams.len() != self.books.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("one book per stream"));
        }
        let protocol = self.protocol;
        self.routes = streams.into_iter().enumerate().map(|(i, s)| (Self::route_of(protocol, s), i)).collect();
        Ok(())
    }

    /// One frame: (book index, record bytes) when a book was updated, False for a stale message,
    /// None when the frame is for the Python path (nothing was changed that the Python path will
    /// not redo identically).
    fn on_frame<'py>(&mut self, py: Python<'py>, raw: &Bound<'py, PyAny>, receive_time_ns: i64) -> PyResult<Bound<'py, PyAny>> {
        let taken = match frame_bytes(raw) {
            Some(bytes) => self.take(py, bytes, receive_time_ns),
            None => Taken::Deferred,
        };
        match taken {
            Taken::Record(index) => {
                let payload = PyBytes::new(py, &self.out);
                Ok(PyTuple::new(py, [index.into_pyobject(py)?.into_any(), payload.into_any()])?.into_any())
            }
            Taken::Stale => Ok(false.into_pyobject(py)?.to_owned().into_any()),
            Taken::Deferred => {
                self.deferred += 1;
                Ok(py.None().into_bound(py))
            }
        }
    }
}

