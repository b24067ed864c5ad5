//! Scanners for the book messages of venues that send the book in the stream (OKX `books`
//! updates, Bybit `orderbook.N` deltas, Hyperliquid `l2Book` whole books), for
//! `NativeStreamFeed` (stream.rs). Each accepts only what `orjson.loads` and the venue module's
//! `parse_message` accept the same way: no string escapes, no duplicate keys among the fields
//! read, plain integers, valid levels; anything else is None and the frame goes to the Python
//! reference, which accepts it or names the reason for the DLQ.

use crate::frame::{Cursor, Levels};
use crate::stream_book::Texts;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Protocol {
    Okx,
    Bybit,
    Hyperliquid,
}

const OKX_CHANNEL: &[u8] = b"books";

/// What a book message says besides its levels.
#[derive(Debug)]
pub struct StreamFields<'a> {
    /// The route of the book: OKX's instId, Bybit's topic, Hyperliquid's coin.
    pub route: &'a [u8],
    /// The symbol the message names, checked against the book's (Bybit's `data.s`).
    pub symbol: Option<&'a [u8]>,
    pub seq: u64,
    pub prev: u64,
    pub event_time: u64,
    pub transaction_time: Option<u64>,
    pub checksum: Option<i64>,
}

impl<'a> Cursor<'a> {
    /// A JSON integer >= 0, or a string of ASCII digits (OKX writes `ts` as one): as okx_spot._int.
    fn uint_or_digits(&mut self) -> Option<u64> {
        if self.peek()? != b'"' {
            return self.uint();
        }
        let text = self.string()?;
        if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut value: u64 = 0;
        for &c in text {
            value = value.checked_mul(10)?.checked_add((c - b'0') as u64)?;
        }
        Some(value)
    }

    /// A decimal string's fixed-point value and its text (between the quotes), in one pass.
    fn fixed_text(&mut self) -> Option<(u128, &'a [u8])> {
        self.ws();
        let start = self.pos;
        let value = self.fixed()?;
        Some((value, &self.buf[start + 1..self.pos - 1]))
    }

    /// A JSON integer of either sign (OKX's checksum), or null.
    fn int_or_null(&mut self) -> Option<Option<i64>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| None),
            b'-' => {
                self.pos += 1;
                let value = self.uint()?;
                Some(Some(-(i64::try_from(value).ok()?)))
            }
            _ => Some(Some(i64::try_from(self.uint()?).ok()?)),
        }
    }

    /// A JSON integer >= 0, or null (Bybit's `cts`).
    fn uint_or_null(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| None);
        }
        self.uint().map(Some)
    }

    /// The end of an object or array member list: true at its close, false before another member.
    #[inline]
    fn next_member(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(false)
            }
            c if c == close => {
                self.pos += 1;
                Some(true)
            }
            _ => None,
        }
    }

    /// Nothing after the frame's object (orjson refuses trailing data).
    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// OKX levels `[[price, size, "0", orders], ...]`: the first two strings are the level (and
    /// its texts for the checksum), the rest is skipped, like okx_spot._side.
    fn okx_levels(&mut self, out: &mut Levels, texts: &mut Texts, bid: bool) -> Option<()> {
        out.clear();
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let (price, price_text) = self.fixed_text()?;
            self.eat(b',')?;
            let (size, size_text) = self.fixed_text()?;
            while !self.next_member(b']')? {
                self.skip(4)?;
            }
            if price == 0 {
                return None;
            }
            out.prices.push(price);
            out.sizes.push(size);
            texts.push(bid, price_text, size_text);
            if self.next_member(b']')? {
                return Some(());
            }
        }
    }

    /// Hyperliquid levels `[{"px": .., "sz": .., "n": ..}, ...]`, best first, strictly ordered,
    /// sizes > 0 (a whole book), like hyperliquid_perp._side.
    fn hyperliquid_levels(&mut self, out: &mut Levels, descending: bool) -> Option<()> {
        out.clear();
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.eat(b'{')?;
            let (mut px, mut sz) = (None, None);
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                match key {
                    b"px" if px.is_none() => px = Some(self.fixed()?),
                    b"sz" if sz.is_none() => sz = Some(self.fixed()?),
                    b"px" | b"sz" => return None,
                    _ => self.skip(4)?,
                }
                if self.next_member(b'}')? {
                    break;
                }
            }
            let (price, size) = (px?, sz?);
            if price == 0 || size == 0 {
                return None;
            }
            if let Some(&last) = out.prices.last() {
                if (descending && price >= last) || (!descending && price <= last) {
                    return None;
                }
            }
            out.prices.push(price);
            out.sizes.push(size);
            if self.next_member(b']')? {
                return Some(());
            }
        }
    }
}

/// `{"arg": {"channel": "books", "instId": ..}, "action": "update", "data": [{..}]}`.
pub fn scan_okx<'a>(buf: &'a [u8], bids: &mut Levels, asks: &mut Levels, texts: &mut Texts) -> Option<StreamFields<'a>> {
    let mut cur = Cursor { buf, pos: 0 };
    texts.clear();
    let (mut inst, mut update, mut fields) = (None, None, None);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"arg" if inst.is_none() => inst = Some(okx_arg(&mut cur)?),
            b"action" if update.is_none() => update = Some(cur.string()? == b"update"),
            b"data" if fields.is_none() => {
                cur.eat(b'[')?;
                fields = Some(okx_item(&mut cur, bids, asks, texts)?);
                cur.eat(b']')?;
            }
            b"arg" | b"action" | b"data" | b"event" => return None,
            _ => cur.skip(1)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    if !cur.at_end() || update != Some(true) {
        return None;
    }
    let mut fields: StreamFields = fields?;
    fields.route = inst?;
    Some(fields)
}

fn okx_arg<'a>(cur: &mut Cursor<'a>) -> Option<&'a [u8]> {
    let (mut channel, mut inst) = (None, None);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"channel" if channel.is_none() => channel = Some(cur.string()?),
            b"instId" if inst.is_none() => inst = Some(cur.string()?),
            b"channel" | b"instId" => return None,
            _ => cur.skip(2)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    if channel? != OKX_CHANNEL {
        return None;
    }
    inst
}

fn okx_item<'a>(cur: &mut Cursor<'a>, bids: &mut Levels, asks: &mut Levels, texts: &mut Texts) -> Option<StreamFields<'a>> {
    let (mut b, mut a, mut ts, mut checksum, mut seq, mut prev) = (false, false, None, None, None, None);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"bids" if !b => {
                cur.okx_levels(bids, texts, true)?;
                b = true;
            }
            b"asks" if !a => {
                cur.okx_levels(asks, texts, false)?;
                a = true;
            }
            b"ts" if ts.is_none() => ts = Some(cur.uint_or_digits()?),
            b"checksum" if checksum.is_none() => checksum = Some(cur.int_or_null()?),
            b"seqId" if seq.is_none() => seq = Some(cur.uint_or_digits()?),
            b"prevSeqId" if prev.is_none() => prev = Some(cur.uint_or_digits()?),
            b"bids" | b"asks" | b"ts" | b"checksum" | b"seqId" | b"prevSeqId" => return None,
            _ => cur.skip(3)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    if !(a && b) {
        return None;
    }
    Some(StreamFields {
        route: b"",
        symbol: None,
        seq: seq?,
        prev: prev?,
        event_time: ts?,
        transaction_time: None,
        checksum: checksum.flatten(),
    })
}

/// `{"topic": "orderbook.50.X", "type": "delta", "ts": .., "data": {"s", "b", "a", "u", ..}, "cts": ..}`.
pub fn scan_bybit<'a>(buf: &'a [u8], bids: &mut Levels, asks: &mut Levels) -> Option<StreamFields<'a>> {
    let mut cur = Cursor { buf, pos: 0 };
    let (mut topic, mut delta, mut ts, mut cts, mut data) = (None, None, None, None, None);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"topic" if topic.is_none() => topic = Some(cur.string()?),
            b"type" if delta.is_none() => delta = Some(cur.string()? == b"delta"),
            b"ts" if ts.is_none() => ts = Some(cur.uint()?),
            b"cts" if cts.is_none() => cts = Some(cur.uint_or_null()?),
            b"data" if data.is_none() => data = Some(bybit_data(&mut cur, bids, asks)?),
            b"topic" | b"type" | b"ts" | b"cts" | b"data" | b"op" => return None,
            _ => cur.skip(1)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    if !cur.at_end() || delta != Some(true) {
        return None;
    }
    let (symbol, u) = data?;
    if u < 2 {
        return None; // u == 1 is a fresh snapshot (and 0 is refused): the reference's
    }
    Some(StreamFields {
        route: topic?,
        symbol: Some(symbol),
        seq: u,
        prev: u - 1,
        event_time: ts?,
        transaction_time: cts.flatten(),
        checksum: None,
    })
}

fn bybit_data<'a>(cur: &mut Cursor<'a>, bids: &mut Levels, asks: &mut Levels) -> Option<(&'a [u8], u64)> {
    let (mut s, mut u, mut b, mut a) = (None, None, false, false);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"s" if s.is_none() => s = Some(cur.string()?),
            b"u" if u.is_none() => u = Some(cur.uint()?),
            b"b" if !b => {
                cur.levels(bids)?;
                b = true;
            }
            b"a" if !a => {
                cur.levels(asks)?;
                a = true;
            }
            b"s" | b"u" | b"b" | b"a" => return None,
            _ => cur.skip(2)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    if !(a && b) {
        return None;
    }
    Some((s?, u?))
}

/// `{"channel": "l2Book", "data": {"coin": .., "time": .., "levels": [[bids], [asks]]}}`.
pub fn scan_hyperliquid<'a>(buf: &'a [u8], bids: &mut Levels, asks: &mut Levels) -> Option<StreamFields<'a>> {
    let mut cur = Cursor { buf, pos: 0 };
    let (mut book, mut data) = (None, None);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"channel" if book.is_none() => book = Some(cur.string()? == b"l2Book"),
            b"data" if data.is_none() => data = Some(hyperliquid_data(&mut cur, bids, asks)?),
            b"channel" | b"data" => return None,
            _ => cur.skip(1)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    if !cur.at_end() || book != Some(true) {
        return None;
    }
    let (coin, time) = data?;
    Some(StreamFields {
        route: coin,
        symbol: None,
        seq: time,
        prev: 0,
        event_time: time,
        transaction_time: None,
        checksum: None,
    })
}

fn hyperliquid_data<'a>(cur: &mut Cursor<'a>, bids: &mut Levels, asks: &mut Levels) -> Option<(&'a [u8], u64)> {
    let (mut coin, mut time, mut levels) = (None, None, false);
    cur.eat(b'{')?;
    loop {
        let key = cur.string()?;
        cur.eat(b':')?;
        match key {
            b"coin" if coin.is_none() => coin = Some(cur.string()?),
            b"time" if time.is_none() => time = Some(cur.uint()?),
            b"levels" if !levels => {
                cur.eat(b'[')?;
                cur.hyperliquid_levels(bids, true)?;
                cur.eat(b',')?;
                cur.hyperliquid_levels(asks, false)?;
                cur.eat(b']')?;
                levels = true;
            }
            b"coin" | b"time" | b"levels" => return None,
            _ => cur.skip(2)?,
        }
        if cur.next_member(b'}')? {
            break;
        }
    }
    let coin = coin?;
    if coin.is_empty() || !levels {
        return None;
    }
    Some((coin, time?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_okx_update_is_read_with_its_texts() {
        let frame = br#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.9","0.10","0","1"],["8475","0","0","0"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":122,"seqId":123}]}"#;
        let (mut b, mut a, mut t) = (Levels::default(), Levels::default(), Texts::default());
        let f = scan_okx(frame, &mut b, &mut a, &mut t).unwrap();
        assert_eq!((f.route, f.seq, f.prev, f.event_time, f.checksum), (&b"BTC-USDT"[..], 123, 122, 1597026383085, Some(-855196043)));
        assert_eq!(b.prices, vec![847_690_000_000, 847_500_000_000]);
        assert_eq!(b.sizes, vec![10_000_000, 0]);
        let (s, e) = t.bids[0];
        assert_eq!(&t.arena[s as usize..e as usize], b"8476.9:0.10");
        let (s, e) = t.asks[0];
        assert_eq!(&t.arena[s as usize..e as usize], b"8476.98:415");
    }

    #[test]
    fn okx_frames_the_reference_must_judge_are_refused() {
        let (mut b, mut a, mut t) = (Levels::default(), Levels::default(), Texts::default());
        for frame in [
            &br#"{"arg":{"channel":"books","instId":"X"},"action":"snapshot","data":[{"asks":[],"bids":[],"ts":"1","seqId":2,"prevSeqId":-1}]}"#[..],
            br#"{"event":"subscribe","arg":{"channel":"books","instId":"X"}}"#,
            br#"{"arg":{"channel":"trades","instId":"X"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}]}"#,
            br#"{"arg":{"channel":"books","instId":"X"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","seqId":2}]}"#,
            br#"{"arg":{"channel":"books","instId":"X"},"action":"update","data":[{"asks":[["1","-1"]],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}]}"#,
            br#"{"arg":{"channel":"books","instId":"X"},"action":"update","data":[{"asks":[["1"]],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}]}"#,
            br#"{"arg":{"channel":"books","instId":"X"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","seqId":2,"prevSeqId":1,"checksum":1.5}]}"#,
            br#"{"arg":{"channel":"books","instId":"X"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","seqId":2,"prevSeqId":1}]} x"#,
            br#"pong"#,
        ] {
            assert!(scan_okx(frame, &mut b, &mut a, &mut t).is_none(), "{}", String::from_utf8_lossy(frame));
        }
    }

    #[test]
    fn bybit_deltas_and_what_is_not_one() {
        let (mut b, mut a) = (Levels::default(), Levels::default());
        let delta = br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1687940967466,"data":{"s":"BTCUSDT","b":[["30247.20","30.028"]],"a":[],"u":177400507,"seq":66544703342},"cts":1687940967464}"#;
        let f = scan_bybit(delta, &mut b, &mut a).unwrap();
        assert_eq!((f.route, f.symbol, f.seq, f.prev, f.transaction_time), (&b"orderbook.50.BTCUSDT"[..], Some(&b"BTCUSDT"[..]), 177400507, 177400506, Some(1687940967464)));
        let reset = br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}"#;
        assert!(scan_bybit(reset, &mut b, &mut a).is_none());
        let snapshot = br#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":9}}"#;
        assert!(scan_bybit(snapshot, &mut b, &mut a).is_none());
        assert!(scan_bybit(br#"{"op":"pong","success":true}"#, &mut b, &mut a).is_none());
    }

    #[test]
    fn hyperliquid_books_must_be_ordered_and_sized() {
        let (mut b, mut a) = (Levels::default(), Levels::default());
        let ok = br#"{"channel":"l2Book","data":{"coin":"BTC","time":5,"levels":[[{"px":"2","sz":"1","n":1},{"px":"1","sz":"3","n":2}],[{"px":"3","sz":"1","n":1}]]}}"#;
        let f = scan_hyperliquid(ok, &mut b, &mut a).unwrap();
        assert_eq!((f.route, f.seq, b.prices.len(), a.prices.len()), (&b"BTC"[..], 5, 2, 1));
        let unordered = br#"{"channel":"l2Book","data":{"coin":"BTC","time":5,"levels":[[{"px":"1","sz":"1","n":1},{"px":"2","sz":"3","n":2}],[]]}}"#;
        assert!(scan_hyperliquid(unordered, &mut b, &mut a).is_none());
        let empty_level = br#"{"channel":"l2Book","data":{"coin":"BTC","time":5,"levels":[[{"px":"1","sz":"0","n":1}],[]]}}"#;
        assert!(scan_hyperliquid(empty_level, &mut b, &mut a).is_none());
    }
}

