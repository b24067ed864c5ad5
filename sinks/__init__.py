"""Consumers that fan the processed topics out to PostgreSQL/TimescaleDB and Redis."""
