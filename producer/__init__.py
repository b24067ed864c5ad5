"""The producer: exchange WebSocket connectors that keep exchange-correct books, normalize them and
publish to orderbook.raw; plus the Binance-speaking market simulator and the recorder."""
