//! obm_book_native: the compiled hot path of the order book producer.
//!
//! `NativeFeed.on_frame` does, for one raw diff-depth frame, what `producer.feed.BookFeed.on_frame`
//! does per level in Python: scan and validate the frame, route it to its symbol's book, check
//! the Binance sequence chain, apply the levels to the exact integer book and serialize the
//! top-N orderbook.raw record. It handles the steady state of a live book only; every other
//! case (bad or unusual frame, unknown stream, book not live, first event after a snapshot, a
//! gap) is handed back untouched and the Python reference handles it (DLQ reason, buffering,
//! resync; a bounded book left short of known levels by the frame is handed back after its levels
//! went in: applying them again changes nothing), so the two paths give the same verdicts by construction. `NativeStreamFeed`
//! (stream.rs) does the same for the venues that send the book in the stream (OKX, Bybit,
//! Hyperliquid).

mod book;
mod decimal;
mod frame;
mod stream;
mod stream_book;
mod venue_frames;

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use book::{NativeBook, APPLIED, STALE};
use decimal::{to_f64, write_f64, write_fixed_as_float};
use frame::{scan_diff, Levels};

#[pyclass(module = "obm_book_native")]
struct NativeFeed {
    routes: HashMap<Vec<u8>, usize>,
    books: Vec<Py<NativeBook>>,
    futures: bool,
    bids: Levels,
    asks: Levels,
    out: Vec<u8>,
    /// Frames handed back to Python (for the bench and tests: 0 in the steady state).
    #[pyo3(get)]
    deferred: u64,
    /// Lag (receive time - event time, ms) histogram of the records made here: bucket i counts
    /// lags <= lag_bounds[i] (and above the previous bound), the last one the rest.
    lag_bounds: Vec<i64>,
    #[pyo3(get)]
    lag_buckets: Vec<u64>,
    #[pyo3(get)]
    lag_sum_ms: i128, // wide enough that no sum of u64 event times can overflow it
    #[pyo3(get)]
    lag_count: u64,
}

#[pymethods]
impl NativeFeed {
    /// `streams[i]` is the stream name whose events go to `books[i]`; `futures`: USD-M events
    /// (pu and T required, chained by pu), else spot.
    #[new]
    fn new(
        streams: Vec<String>,
        books: Vec<Py<NativeBook>>,
        futures: bool,
        lag_bounds: Vec<i64>,
    ) -> PyResult<Self> {
        if streams.len() != books.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("one book per stream"));
        }
        let routes = streams.into_iter().enumerate().map(|(i, s)| (s.into_bytes(), i)).collect();
        Ok(NativeFeed {
            routes,
            books,
            futures,
            bids: Levels::default(),
            asks: Levels::default(),
            out: Vec::with_capacity(2048),
            deferred: 0,
            lag_buckets: vec![0; lag_bounds.len() + 1],
            lag_bounds,
            lag_sum_ms: 0,
            lag_count: 0,
        })
    }

    /// Route by these stream names from now on, in the books' order.
    fn set_streams(&mut self, streams: Vec<String>) -> PyResult<()> {
        if streams.len() != self.books.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("one book per stream"));
        }
        self.routes = streams.into_iter().enumerate().map(|(i, s)| (s.into_bytes(), i)).collect();
        Ok(())
    }

    /// One frame. Returns (book index, record bytes) when the book was updated, False when the
    /// event was already covered by the book (stale), None when the frame is for the Python path
    /// (nothing was changed). Counts the record's lag and whether it was crossed.
    fn on_frame<'py>(
        &mut self,
        py: Python<'py>,
        raw: &Bound<'py, PyAny>,
        receive_time_ns: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(bytes) = frame_bytes(raw) else {
            return self.defer(py);
        };
        let Some(fields) = scan_diff(bytes, self.futures, &mut self.bids, &mut self.asks) else {
            return self.defer(py);
        };
        let Some(&index) = self.routes.get(fields.stream) else {
            return self.defer(py);
        };
        let mut book = self.books[index].bind(py).borrow_mut();
        if !book.live || book.fresh || fields.symbol != book.symbol.as_bytes() {
            drop(book);
            return self.defer(py);
        }
        match book.step_fields(fields.first_id, fields.final_id, fields.prev_final_id) {
            APPLIED => {}
            STALE => return Ok(false.into_pyobject(py)?.to_owned().into_any()),
            _ => {
                drop(book);
                return self.defer(py);
            }
        }
        book.apply_levels(&self.bids.prices, &self.bids.sizes, &self.asks.prices, &self.asks.sizes);
        if book.shallow() {
            // A bounded book short of known levels: the ids stay, the Python path applies the
            // same absolute sizes again (no change), reaches SHALLOW and resyncs with the reason.
            drop(book);
            return self.defer(py);
        }
        book.advance(fields.final_id);
        book.record_json(
            &mut self.out,
            fields.event_time,
            fields.transaction_time,
            receive_time_ns,
            fields.final_id,
        );
        drop(book);
        count_lag(
            &self.lag_bounds,
            &mut self.lag_buckets,
            &mut self.lag_sum_ms,
            &mut self.lag_count,
            receive_time_ns,
            fields.event_time,
        );
        let payload = PyBytes::new(py, &self.out);
        let result = PyTuple::new(py, [index.into_pyobject(py)?.into_any(), payload.into_any()])?;
        Ok(result.into_any())
    }
}

/// A frame's bytes when it is valid UTF-8 text (str or bytes), else None (Python decides).
pub(crate) fn frame_bytes<'a>(raw: &'a Bound<'_, PyAny>) -> Option<&'a [u8]> {
    if let Ok(s) = raw.cast::<PyString>() {
        return s.to_str().ok().map(str::as_bytes);
    }
    let b = raw.cast::<PyBytes>().ok()?.as_bytes();
    std::str::from_utf8(b).ok().map(|_| b)
}

/// One record's lag (receive time - event time, ms) into the histogram, as Python's
/// `receive_time_ns // 1_000_000 - event_time` and bisect_left(bounds, lag).
pub(crate) fn count_lag(
    bounds: &[i64],
    buckets: &mut [u64],
    sum: &mut i128,
    count: &mut u64,
    receive_time_ns: i64,
    event_time: u64,
) {
    let lag = receive_time_ns.div_euclid(1_000_000) as i128 - event_time as i128;
    buckets[bounds.partition_point(|&b| (b as i128) < lag)] += 1;
    *sum += lag;
    *count += 1;
}

impl NativeFeed {
    fn defer<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.deferred += 1;
        Ok(py.None().into_bound(py))
    }
}

/// Used by the feed: the float of a fixed-point value, for tests of the conversion.
#[pyfunction]
pub fn fixed_to_float(value: u128) -> f64 {
    to_f64(value)
}

/// The JSON text the record holds for a fixed-point value (tests compare it with orjson's).
#[pyfunction]
pub fn fixed_json(value: u128) -> String {
    let mut out = Vec::new();
    write_fixed_as_float(&mut out, value, &mut ryu::Buffer::new());
    String::from_utf8(out).expect("ascii")
}

/// The JSON text orjson would write for this float (tests compare the two).
#[pyfunction]
pub fn float_json(value: f64) -> String {
    let mut out = Vec::new();
    write_f64(&mut out, value, &mut ryu::Buffer::new());
    String::from_utf8(out).expect("ascii")
}

/// parse_fixed of the fast path: the value, or None where Python would reject (or decide).
#[pyfunction]
pub fn parse_fixed_text(text: &str) -> Option<u128> {
    decimal::parse_fixed(text.as_bytes())
}

/// The frame scanner's decimal parser on a JSON string token such as `"2683.8"` (tests compare
/// it with parse_fixed).
#[pyfunction]
fn scan_fixed_token(token: &str) -> Option<u128> {
    frame::scan_fixed_token(token.as_bytes())
}

#[pymodule]
fn obm_book_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeBook>()?;
    m.add_class::<NativeFeed>()?;
    m.add_class::<stream::NativeStreamFeed>()?;
    // NativeBook.stream_step's outcome beyond producer.engine.Outcome's (the Python side reads it)
    m.add("CHECKSUM_MISMATCH", book::CHECKSUM_MISMATCH)?;
    m.add_function(wrap_pyfunction!(fixed_to_float, m)?)?;
    m.add_function(wrap_pyfunction!(float_json, m)?)?;
    m.add_function(wrap_pyfunction!(fixed_json, m)?)?;
    m.add_function(wrap_pyfunction!(parse_fixed_text, m)?)?;
    m.add_function(wrap_pyfunction!(scan_fixed_token, m)?)?;
    Ok(())
}
