"""The WebSocket gateway (`obm serve`): pushes what the topology produces (books, metrics, bars,
alerts) to subscribed clients, each behind its own bounded queue so a slow client never slows the
others. The protocol is docs/gateway.md."""
