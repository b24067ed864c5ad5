"""Alert delivery: orderbook.alerts to webhooks, Slack and Telegram (docs/alerts-delivery.md)."""
