//! obm_book_native: the compiled hot path of the order book producer.
//!
//! `NativeFeed.on_frame` does, for one raw diff-depth frame, what `producer.feed.BookFeed.on_frame`
//! does per level in Python: scan and validate the frame, route it to its symbol's book, check
//! the Binance sequence chain, apply the levels to the exact integer book and serialize the
//! top-N orderbook.raw record. It handles the steady state of a live book only; every other
//! case (bad or unusual frame, unknown stream, book not live, first event after a snapshot, a
//! gap) is handed back untouched and the Python reference handles it (DLQ reason, buffering,
//! resync), so the two paths give the same verdicts by construction.

mod book;
mod decimal;
mod frame;

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use book::{NativeBook, APPLIED, STALE};
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

    /// One frame. Returns (book index, record bytes) when the book was updated, False when the
    /// event was already covered by the book (stale), None when the frame is for the Python path
    /// (nothing was changed). Counts the record's lag and whether it was crossed.
    fn on_frame<'py>(
        &mut self,
        py: Python<'py>,
        raw: &Bound<'py, PyAny>,
        receive_time_ns: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes: &[u8] = if let Ok(s) = raw.cast::<PyString>() {
            match s.to_str() {
                Ok(text) => text.as_bytes(),
                Err(_) => return self.defer(py),
            }
        } else if let Ok(b) = raw.cast::<PyBytes>() {
            let b = b.as_bytes();
            if std::str::from_utf8(b).is_err() {
                return self.defer(py);
            }
            b
        } else {
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
        book.apply_columns(
            &self.bids.prices,
            &self.bids.sizes,
            &self.asks.prices,
            &self.asks.sizes,
            fields.final_id,
        );
        book.record_json(
            &mut self.out,
            fields.event_time,
            fields.transaction_time,
            receive_time_ns,
            fields.final_id,
        );
        drop(book);
        // as Python's `receive_time_ns // 1_000_000 - event_time` and bisect_left(bounds, lag)
        let lag = receive_time_ns.div_euclid(1_000_000) as i128 - fields.event_time as i128;
        let bucket = self.lag_bounds.partition_point(|&b| (b as i128) < lag);
        self.lag_buckets[bucket] += 1;
        self.lag_sum_ms += lag;
        self.lag_count += 1;
        let payload = PyBytes::new(py, &self.out);
        let result = PyTuple::new(py, [index.into_pyobject(py)?.into_any(), payload.into_any()])?;
        Ok(result.into_any())
    }
}

impl NativeFeed {
    fn defer<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.deferred += 1;
        Ok(py.None().into_bound(py))
    }
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
    m.add_function(wrap_pyfunction!(book::fixed_to_float, m)?)?;
    m.add_function(wrap_pyfunction!(book::float_json, m)?)?;
    m.add_function(wrap_pyfunction!(book::fixed_json, m)?)?;
    m.add_function(wrap_pyfunction!(book::parse_fixed_text, m)?)?;
    m.add_function(wrap_pyfunction!(scan_fixed_token, m)?)?;
    Ok(())
}
