-- Schema of the stored history: metrics, bars, alerts, DLQ records and book snapshots.
--
-- Applied on every start (psql -v ON_ERROR_STOP=1 -f init-db.sql), so every statement is
-- re-runnable: IF NOT EXISTS, CREATE OR REPLACE, ON CONFLICT DO NOTHING.
--
-- Works on plain PostgreSQL >= 14 and with TimescaleDB (Compose, and the embedded stack where
-- scripts/bootstrap.sh built it). The TimescaleDB parts live in DO blocks that run only when the
-- server preloads the extension; without it, BRIN indexes on the time columns, plain rollup views
-- and orderbook_apply_retention() give the same interface with plainer machinery. Nothing here needs
-- a superuser: the file runs as the application role, which owns the database (TimescaleDB is a
-- trusted extension, so the owner may create it).
--
-- Idempotency: every table has a unique key derived from the record itself (never a serial), and
-- the sinks write with INSERT ... ON CONFLICT DO NOTHING, so a replayed or redelivered Kafka record
-- changes nothing. Under TimescaleDB a unique key must contain the partitioning column, which is why
-- each key includes its time column. Full description: docs/storage.md.

SET client_min_messages = warning;

-- TimescaleDB when the server preloads it. Creating it without the preload kills the session
-- (FATAL), and shared_preload_libraries is readable by superusers only; the loader's own setting
-- timescaledb.max_background_workers exists exactly when the library is preloaded, for any role.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('timescaledb.max_background_workers', true) IS NOT NULL THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- orderbook_metrics: one row per orderbook.processed record (schema fields without
-- schema_version), ts = event_time.
CREATE TABLE IF NOT EXISTS orderbook_metrics (
    ts                      timestamptz      NOT NULL,
    exchange                text             NOT NULL,
    market                  text             NOT NULL,
    symbol                  text             NOT NULL,
    event_time              bigint           NOT NULL,
    receive_time_ns         bigint           NOT NULL,
    sequence_id             bigint           NOT NULL,
    best_bid                double precision,
    best_ask                double precision,
    best_bid_size           double precision,
    best_ask_size           double precision,
    mid                     double precision,
    spread                  double precision,
    spread_bps              double precision,
    imbalance_1             double precision,
    imbalance_5             double precision,
    imbalance_10            double precision,
    imbalance_20            double precision,
    weighted_imbalance      double precision,
    microprice              double precision,
    microprice_lean_bps     double precision,
    vtob_ratio              double precision,
    depth_bid_10bps         double precision,
    depth_ask_10bps         double precision,
    depth_bid_50bps         double precision,
    depth_ask_50bps         double precision,
    depth_bid_100bps        double precision,
    depth_ask_100bps        double precision,
    depth_complete_10bps    boolean,
    depth_complete_50bps    boolean,
    depth_complete_100bps   boolean,
    ofi_1                   double precision,
    ofi_5                   double precision,
    imbalance_velocity      double precision,
    spread_bps_mean         double precision,
    spread_bps_std          double precision,
    spread_bps_z            double precision,
    imbalance_mean          double precision,
    imbalance_std           double precision,
    imbalance_z             double precision,
    crossed                 boolean,
    resynced                boolean
);
-- The idempotency key, ordered so it also serves "one symbol over a time range" queries.
CREATE UNIQUE INDEX IF NOT EXISTS orderbook_metrics_key
    ON orderbook_metrics (exchange, symbol, ts, sequence_id);

-- ---------------------------------------------------------------------------------------------
-- orderbook_bars: one row per orderbook.bars record; "interval" is '1s' or '1m'.
CREATE TABLE IF NOT EXISTS orderbook_bars (
    window_start     timestamptz      NOT NULL,
    window_end       timestamptz      NOT NULL,
    exchange         text             NOT NULL,
    market           text             NOT NULL,
    symbol           text             NOT NULL,
    "interval"       text             NOT NULL CHECK ("interval" IN ('1s', '1m')),
    mid_open         double precision,
    mid_high         double precision,
    mid_low          double precision,
    mid_close        double precision,
    imbalance_mean   double precision,
    imbalance_min    double precision,
    imbalance_max    double precision,
    spread_bps_mean  double precision,
    spread_bps_max   double precision,
    ofi_sum          double precision,
    update_count     bigint           NOT NULL,
    microprice_last  double precision
);
CREATE UNIQUE INDEX IF NOT EXISTS orderbook_bars_key
    ON orderbook_bars (exchange, symbol, "interval", window_start);

-- ---------------------------------------------------------------------------------------------
-- orderbook_alerts: one row per alert; alert_id is deterministic, ts = event_time.
CREATE TABLE IF NOT EXISTS orderbook_alerts (
    ts            timestamptz      NOT NULL,
    alert_id      text             NOT NULL,
    alert_type    text             NOT NULL,
    severity      text             NOT NULL,
    exchange      text             NOT NULL,
    market        text             NOT NULL,
    symbol        text             NOT NULL,
    metric_value  double precision NOT NULL,
    threshold     double precision NOT NULL,
    window_start  timestamptz      NOT NULL,
    window_end    timestamptz      NOT NULL,
    event_time    timestamptz      NOT NULL,
    message       text             NOT NULL,
    PRIMARY KEY (alert_id, ts)
);
CREATE INDEX IF NOT EXISTS orderbook_alerts_symbol_ts ON orderbook_alerts (exchange, symbol, ts DESC);
CREATE INDEX IF NOT EXISTS orderbook_alerts_ts ON orderbook_alerts (ts DESC);
-- Why the alert fired (the record's `context`: score, value, baseline, percentile, the book at that
-- moment; docs/alerts.md); null for alerts stored before it existed and records without one.
ALTER TABLE orderbook_alerts ADD COLUMN IF NOT EXISTS context jsonb;
-- Which user rule fired (rules/; alert_type user_rule): its id, name and version then; null for
-- the built-in alerts. orderbook_alerts_rule: an alert history per rule.
ALTER TABLE orderbook_alerts ADD COLUMN IF NOT EXISTS rule_id bigint;
ALTER TABLE orderbook_alerts ADD COLUMN IF NOT EXISTS rule_name text;
ALTER TABLE orderbook_alerts ADD COLUMN IF NOT EXISTS rule_version bigint;
CREATE INDEX IF NOT EXISTS orderbook_alerts_rule ON orderbook_alerts (rule_id, ts DESC) WHERE rule_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- orderbook_dlq: the records of orderbook.dlq (rejected input of every component). The Kafka
-- position is the key: a redelivered DLQ record is not stored twice.
CREATE TABLE IF NOT EXISTS orderbook_dlq (
    error_time       timestamptz NOT NULL,
    source           text        NOT NULL,
    origin           text,
    key              text,
    reason           text        NOT NULL,
    payload          text        NOT NULL,
    kafka_topic      text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
-- Where the rejected record itself was (null for input that never was a Kafka record, e.g. a
-- WebSocket frame), and how `payload` holds its bytes (utf-8, or base64 for other bytes).
ALTER TABLE orderbook_dlq ADD COLUMN IF NOT EXISTS source_topic     text;
ALTER TABLE orderbook_dlq ADD COLUMN IF NOT EXISTS source_partition integer;
ALTER TABLE orderbook_dlq ADD COLUMN IF NOT EXISTS source_offset    bigint;
ALTER TABLE orderbook_dlq ADD COLUMN IF NOT EXISTS payload_encoding text NOT NULL DEFAULT 'utf-8';
CREATE INDEX IF NOT EXISTS orderbook_dlq_error_time ON orderbook_dlq (error_time DESC);

-- ---------------------------------------------------------------------------------------------
-- orderbook_snapshots: the book from orderbook.raw, the first record of each second per symbol
-- (for the liquidity heatmap). ts = event_time truncated to the second.
CREATE TABLE IF NOT EXISTS orderbook_snapshots (
    ts          timestamptz        NOT NULL,
    exchange    text               NOT NULL,
    symbol      text               NOT NULL,
    sequence_id bigint             NOT NULL,
    bid_prices  double precision[] NOT NULL,
    bid_sizes   double precision[] NOT NULL,
    ask_prices  double precision[] NOT NULL,
    ask_sizes   double precision[] NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orderbook_snapshots_key ON orderbook_snapshots (exchange, symbol, ts);

-- ---------------------------------------------------------------------------------------------
-- How long each table keeps its rows. Edit the rows to change it; re-running this file keeps edits.
CREATE TABLE IF NOT EXISTS orderbook_retention (
    table_name  text PRIMARY KEY,
    time_column text     NOT NULL,
    keep        interval NOT NULL
);
INSERT INTO orderbook_retention (table_name, time_column, keep) VALUES
    ('orderbook_metrics',   'ts',           interval '7 days'),
    ('orderbook_snapshots', 'ts',           interval '3 days'),
    ('orderbook_bars',      'window_start', interval '90 days'),
    ('orderbook_alerts',    'ts',           interval '90 days'),
    ('orderbook_dlq',       'error_time',   interval '30 days')
ON CONFLICT (table_name) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Time partitioning. With TimescaleDB: hypertables, compression and retention policies. Without
-- it: BRIN indexes on the time columns (tiny, and the rows arrive in time order, so a time range
-- reads only its own blocks).
DO $$
DECLARE
    r record;
    has_tsdb boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
    FOR r IN SELECT * FROM (VALUES
            -- Each unique key's columns are in segmentby or orderby: TimescaleDB checks a key
            -- against compressed chunks through them (ON CONFLICT into an old chunk).
            ('orderbook_metrics',   'ts',           interval '1 day',  'exchange, symbol',
                                                                       'ts DESC, sequence_id'),
            ('orderbook_snapshots', 'ts',           interval '1 day',  'exchange, symbol', 'ts DESC'),
            ('orderbook_bars',      'window_start', interval '7 days', 'exchange, symbol, "interval"',
                                                                       'window_start DESC'),
            ('orderbook_alerts',    'ts',           interval '30 days', NULL, NULL)
        ) AS t(tbl, col, chunk, segmentby, orderby)
    LOOP
        IF has_tsdb THEN
            PERFORM create_hypertable(r.tbl::regclass, r.col::name, chunk_time_interval => r.chunk,
                                      if_not_exists => true, migrate_data => true);
            IF r.segmentby IS NOT NULL THEN
                EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, '
                               'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                               r.tbl, r.segmentby, r.orderby);
                PERFORM add_compression_policy(r.tbl::regclass, r.chunk, if_not_exists => true);
            END IF;
            PERFORM add_retention_policy(r.tbl::regclass,
                                         (SELECT keep FROM orderbook_retention WHERE table_name = r.tbl),
                                         if_not_exists => true);
        ELSE
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING brin (%I) WITH (pages_per_range = 32)',
                           r.tbl || '_' || r.col || '_brin', r.tbl, r.col);
        END IF;
    END LOOP;
END
$$;

-- Deletes what is older than orderbook_retention says (run it from cron or the stack's scheduler;
-- under TimescaleDB the retention policies do this already, and this drops chunks the same way).
CREATE OR REPLACE FUNCTION orderbook_apply_retention(now_ts timestamptz DEFAULT now())
RETURNS TABLE (table_name text, deleted bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n bigint;
    is_hypertable boolean;
BEGIN
    FOR r IN SELECT * FROM orderbook_retention ORDER BY 1 LOOP
        is_hypertable := false;
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables h
                                    WHERE h.hypertable_name = $1)'
                INTO is_hypertable USING r.table_name;
        END IF;
        IF is_hypertable THEN
            EXECUTE 'SELECT count(*) FROM drop_chunks($1::regclass, older_than => $2)'
                INTO n USING r.table_name, now_ts - r.keep;
        ELSE
            EXECUTE format('DELETE FROM %I WHERE %I < $1', r.table_name, r.time_column)
                USING now_ts - r.keep;
            GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
        table_name := r.table_name;
        deleted := n;
        RETURN NEXT;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Candles of mid, rolled up from the 1 s bars: orderbook_bars_1m and orderbook_bars_1h.
-- TimescaleDB: continuous aggregates refreshed by policy, real-time (materialized_only = false:
-- buckets the policy has not materialized yet are computed from orderbook_bars at query time, so
-- they show the same rows as the views). Plain PostgreSQL: views with the same columns (filter them
-- by exchange, symbol and bucket; for index-friendly ranges over long histories use
-- orderbook_candles() below).
DO $$
DECLARE
    v record;
    has_tsdb boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    is_cagg boolean;
BEGIN
    FOR v IN SELECT * FROM (VALUES ('orderbook_bars_1m', interval '1 minute'),
                                   ('orderbook_bars_1h', interval '1 hour')) AS t(name, width)
    LOOP
        IF has_tsdb THEN
            is_cagg := EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates c
                               WHERE c.view_name = v.name);
            IF NOT is_cagg THEN
                EXECUTE format('DROP VIEW IF EXISTS %I', v.name);
                EXECUTE format($q$
                    CREATE MATERIALIZED VIEW %I
                        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                    SELECT exchange, symbol, time_bucket(%L::interval, window_start) AS bucket,
                           first(mid_open, window_start) AS open, max(mid_high) AS high,
                           min(mid_low) AS low, last(mid_close, window_start) AS close,
                           sum(imbalance_mean * update_count) / nullif(sum(update_count), 0)
                               AS imbalance_mean,
                           min(imbalance_min) AS imbalance_min, max(imbalance_max) AS imbalance_max,
                           avg(spread_bps_mean) AS spread_bps_mean, max(spread_bps_max) AS spread_bps_max,
                           sum(ofi_sum) AS ofi_sum, sum(update_count)::bigint AS update_count
                    FROM orderbook_bars
                    WHERE "interval" = '1s' AND mid_open IS NOT NULL
                    GROUP BY exchange, symbol, time_bucket(%L::interval, window_start)
                    WITH NO DATA$q$, v.name, v.width, v.width);
                PERFORM add_continuous_aggregate_policy(v.name::regclass,
                    start_offset => v.width * 3 + interval '1 hour', end_offset => v.width,
                    schedule_interval => least(v.width, interval '5 minutes'), if_not_exists => true);
            ELSE
                -- Made before real-time was set here (TimescaleDB >= 2.13 defaults to off).
                EXECUTE format('ALTER MATERIALIZED VIEW %I SET (timescaledb.materialized_only = false)',
                               v.name);
            END IF;
        ELSE
            EXECUTE format($q$
                CREATE OR REPLACE VIEW %I AS
                SELECT exchange, symbol, date_bin(%L::interval, window_start, timestamptz '2000-01-01')
                           AS bucket,
                       (array_agg(mid_open ORDER BY window_start))[1] AS open, max(mid_high) AS high,
                       min(mid_low) AS low, (array_agg(mid_close ORDER BY window_start DESC))[1] AS close,
                       sum(imbalance_mean * update_count) / nullif(sum(update_count), 0) AS imbalance_mean,
                       min(imbalance_min) AS imbalance_min, max(imbalance_max) AS imbalance_max,
                       avg(spread_bps_mean) AS spread_bps_mean, max(spread_bps_max) AS spread_bps_max,
                       sum(ofi_sum) AS ofi_sum, sum(update_count)::bigint AS update_count
                FROM orderbook_bars
                WHERE "interval" = '1s' AND mid_open IS NOT NULL
                GROUP BY 1, 2, 3$q$, v.name, v.width);
        END IF;
    END LOOP;
END
$$;

-- Candles of any width for one symbol and time range, computed from the 1 s bars through the bars
-- key (exchange, symbol, interval, window_start): reads only the rows of that range, with or
-- without TimescaleDB.
CREATE OR REPLACE FUNCTION orderbook_candles(p_width interval, p_exchange text, p_symbol text,
                                             p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, open double precision, high double precision,
               low double precision, close double precision, imbalance_mean double precision,
               spread_bps_mean double precision, ofi_sum double precision, update_count bigint)
LANGUAGE sql STABLE AS $$
    SELECT date_bin(p_width, b.window_start, timestamptz '2000-01-01') AS bucket,
           (array_agg(b.mid_open ORDER BY b.window_start))[1],
           max(b.mid_high), min(b.mid_low),
           (array_agg(b.mid_close ORDER BY b.window_start DESC))[1],
           sum(b.imbalance_mean * b.update_count) / nullif(sum(b.update_count), 0),
           avg(b.spread_bps_mean), sum(b.ofi_sum), sum(b.update_count)::bigint
    FROM orderbook_bars b
    WHERE b.exchange = p_exchange AND b.symbol = p_symbol AND b."interval" = '1s'
      AND b.window_start >= p_from AND b.window_start < p_to AND b.mid_open IS NOT NULL
    GROUP BY 1
    ORDER BY 1
$$;

-- ---------------------------------------------------------------------------------------------
-- Alert delivery (notify/, docs/alerts-delivery.md).
-- alert_notifications: one row per (alert, receiver) the notifier routed, written before it
-- commits its Kafka offset (an alert read twice is stored once: the key), then decided: sent (in
-- the message notification_id), silenced or failed. The group's timing is the route's at intake.
CREATE TABLE IF NOT EXISTS alert_notifications (
    alert_id          text             NOT NULL,
    receiver          text             NOT NULL,
    group_key         text             NOT NULL,
    group_window_s    double precision NOT NULL,
    repeat_interval_s double precision NOT NULL,
    alert             jsonb            NOT NULL,
    received_at       timestamptz      NOT NULL,
    status            text             NOT NULL DEFAULT 'pending'
                                       CHECK (status IN ('pending', 'sent', 'silenced', 'failed')),
    decided_at        timestamptz,
    notification_id   text,
    PRIMARY KEY (alert_id, receiver)
);
CREATE INDEX IF NOT EXISTS alert_notifications_pending
    ON alert_notifications (receiver, group_key) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS alert_notifications_sent
    ON alert_notifications (receiver, group_key, decided_at DESC) WHERE status = 'sent';

-- alert_delivery_attempts: every HTTP request to a receiver, one row per alert the message carried.
CREATE TABLE IF NOT EXISTS alert_delivery_attempts (
    alert_id         text        NOT NULL,
    receiver         text        NOT NULL,
    attempt          integer     NOT NULL,
    notification_id  text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('delivered', 'retrying', 'failed')),
    http_code        integer,
    error            text,
    attempted_at     timestamptz NOT NULL,
    PRIMARY KEY (alert_id, receiver, attempt)
);

-- alert_silences: alerts matching all three patterns are not delivered between starts_at and
-- ends_at (`obm alerts silence`); removing one sets removed_at.
CREATE TABLE IF NOT EXISTS alert_silences (
    id          text        PRIMARY KEY,
    symbols     text        NOT NULL DEFAULT '*',
    alert_type  text        NOT NULL DEFAULT '*',
    severity    text        NOT NULL DEFAULT '*',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text        NOT NULL,
    comment     text        NOT NULL DEFAULT '',
    removed_at  timestamptz
);

INSERT INTO orderbook_retention (table_name, time_column, keep) VALUES
    ('alert_notifications',     'received_at',  interval '90 days'),
    ('alert_delivery_attempts', 'attempted_at', interval '90 days'),
    ('alert_silences',          'ends_at',      interval '90 days')
ON CONFLICT (table_name) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- User alert rules (rules/, docs/rules.md). alert_rules: the current version of each rule (a
-- deleted rule stays, deleted = true, so its id is never reused); alert_rule_history: every
-- version as it was written, by whom and when. User data, not records of a topic: the id is the
-- database's. rules/store.py writes both in one transaction, then publishes the version to the
-- compacted rules.changes topic the rules job follows.
CREATE TABLE IF NOT EXISTS alert_rules (
    rule_id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    version          integer          NOT NULL,
    name             text             NOT NULL,
    metric           text             NOT NULL,
    scope            text             NOT NULL,
    condition        text             NOT NULL,
    threshold        double precision NOT NULL,
    min_duration_ms  bigint           NOT NULL,
    cooldown_ms      bigint           NOT NULL,
    severity         text             NOT NULL,
    enabled          boolean          NOT NULL,
    deleted          boolean          NOT NULL DEFAULT false,
    changed_by       text             NOT NULL,
    changed_at       timestamptz      NOT NULL
);
-- Where a rule's metric comes from (rules/catalogue.py: orderbook.processed, orderbook.bars:<interval>,
-- trades.bars:<interval>, pairs.analytics); rules stored before sources existed watch the books.
ALTER TABLE alert_rules ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'orderbook.processed';
CREATE TABLE IF NOT EXISTS alert_rule_history (
    rule_id     bigint      NOT NULL,
    version     integer     NOT NULL,
    action      text        NOT NULL CHECK (action IN ('add', 'edit', 'enable', 'disable', 'delete')),
    rule        jsonb       NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (rule_id, version)
);

-- ---------------------------------------------------------------------------------------------
-- Trade bars (trades.bars, flink_jobs/trade_bars.py): one row per bar, its newest version. A bar
-- comes again, updated, for each trade that arrives within the job's allowed lateness; the sink
-- upserts on the key and keeps the version with the most trades (versions of a bar only ever add
-- trades). Prices and sums are the job's exact decimals.
CREATE TABLE IF NOT EXISTS trade_bars (
    window_start  timestamptz      NOT NULL,
    window_end    timestamptz      NOT NULL,
    exchange      text             NOT NULL,
    market        text             NOT NULL,
    symbol        text             NOT NULL,
    "interval"    text             NOT NULL CHECK ("interval" IN ('1s', '1m', '5m')),
    open          numeric          NOT NULL,
    high          numeric          NOT NULL,
    low           numeric          NOT NULL,
    close         numeric          NOT NULL,
    volume        numeric          NOT NULL,
    quote_volume  numeric          NOT NULL,
    vwap          double precision NOT NULL,
    trade_count   bigint           NOT NULL,
    buy_volume    numeric          NOT NULL,
    sell_volume   numeric          NOT NULL,
    volume_delta  numeric          NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS trade_bars_key ON trade_bars (exchange, symbol, "interval", window_start);
INSERT INTO orderbook_retention (table_name, time_column, keep)
    VALUES ('trade_bars', 'window_start', interval '90 days')
ON CONFLICT (table_name) DO NOTHING;

-- Hypertable with compression and retention under TimescaleDB (as orderbook_bars), else BRIN.
-- trade_bars_1h: hourly candles from the 1 min bars, a real-time continuous aggregate under
-- TimescaleDB, a view with the same columns without it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('trade_bars'::regclass, 'window_start'::name,
                                  chunk_time_interval => interval '7 days', if_not_exists => true,
                                  migrate_data => true);
        ALTER TABLE trade_bars SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'exchange, symbol, "interval"',
            timescaledb.compress_orderby = 'window_start DESC');
        PERFORM add_compression_policy('trade_bars'::regclass, interval '7 days', if_not_exists => true);
        PERFORM add_retention_policy('trade_bars'::regclass,
            (SELECT keep FROM orderbook_retention WHERE table_name = 'trade_bars'), if_not_exists => true);
        IF NOT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates c
                       WHERE c.view_name = 'trade_bars_1h') THEN
            DROP VIEW IF EXISTS trade_bars_1h;
            CREATE MATERIALIZED VIEW trade_bars_1h
                WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT exchange, market, symbol, time_bucket(interval '1 hour', window_start) AS bucket,
                   first(open, window_start) AS open, max(high) AS high, min(low) AS low,
                   last(close, window_start) AS close, sum(volume) AS volume,
                   sum(quote_volume) AS quote_volume, sum(trade_count)::bigint AS trade_count,
                   sum(buy_volume) AS buy_volume, sum(sell_volume) AS sell_volume,
                   sum(volume_delta) AS volume_delta
            FROM trade_bars
            WHERE "interval" = '1m'
            GROUP BY exchange, market, symbol, time_bucket(interval '1 hour', window_start)
            WITH NO DATA;
            PERFORM add_continuous_aggregate_policy('trade_bars_1h'::regclass,
                start_offset => interval '4 hours', end_offset => interval '1 hour',
                schedule_interval => interval '5 minutes', if_not_exists => true);
        END IF;
    ELSE
        CREATE INDEX IF NOT EXISTS trade_bars_window_start_brin ON trade_bars
            USING brin (window_start) WITH (pages_per_range = 32);
        CREATE OR REPLACE VIEW trade_bars_1h AS
        SELECT exchange, market, symbol,
               date_bin(interval '1 hour', window_start, timestamptz '2000-01-01') AS bucket,
               (array_agg(open ORDER BY window_start))[1] AS open, max(high) AS high, min(low) AS low,
               (array_agg(close ORDER BY window_start DESC))[1] AS close, sum(volume) AS volume,
               sum(quote_volume) AS quote_volume, sum(trade_count)::bigint AS trade_count,
               sum(buy_volume) AS buy_volume, sum(sell_volume) AS sell_volume,
               sum(volume_delta) AS volume_delta
        FROM trade_bars
        WHERE "interval" = '1m'
        GROUP BY 1, 2, 3, 4;
    END IF;
END
$$;

-- Cumulative volume delta: the running sum of the bars' volume_delta over each UTC day, per
-- symbol and interval (the stream gives each bar's delta; a running sum kept in the stream would
-- go stale for every later bar when a late trade updates an earlier one).
CREATE OR REPLACE VIEW trade_bars_cvd AS
SELECT exchange, symbol, "interval", window_start, volume_delta,
       sum(volume_delta) OVER (PARTITION BY exchange, symbol, "interval",
                                            date_trunc('day', window_start, 'UTC')
                               ORDER BY window_start) AS cvd
FROM trade_bars;

-- ---------------------------------------------------------------------------------------------
-- Pair analytics (pairs.analytics, flink_jobs/pairs.py, docs/metrics.md): one row per pair and
-- aligned second. The job emits each second once, so rows are inserted and a replay changes
-- nothing (ON CONFLICT DO NOTHING on the key). Closes are the bars' exact decimals; the statistics
-- are NULL where undefined (a leg that did not move), adf_* until the pair's first ADF test.
CREATE TABLE IF NOT EXISTS pair_analytics (
    ts             timestamptz      NOT NULL,
    pair           text             NOT NULL,
    y              text             NOT NULL,
    x              text             NOT NULL,
    y_close        numeric          NOT NULL,
    x_close        numeric          NOT NULL,
    y_fill_age_ms  bigint           NOT NULL,
    x_fill_age_ms  bigint           NOT NULL,
    points         bigint           NOT NULL,
    beta           double precision,
    alpha          double precision,
    r_squared      double precision,
    spread         double precision,
    spread_mean    double precision,
    spread_std     double precision,
    zscore         double precision,
    return_corr    double precision,
    half_life_s    double precision,
    adf_stat       double precision,
    adf_pvalue     double precision,
    adf_lags       bigint,
    adf_time       timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS pair_analytics_key ON pair_analytics (pair, ts);
INSERT INTO orderbook_retention (table_name, time_column, keep)
    VALUES ('pair_analytics', 'ts', interval '30 days')
ON CONFLICT (table_name) DO NOTHING;

-- Hypertable with compression and retention under TimescaleDB (as trade_bars), else BRIN.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('pair_analytics'::regclass, 'ts'::name,
                                  chunk_time_interval => interval '1 day', if_not_exists => true,
                                  migrate_data => true);
        ALTER TABLE pair_analytics SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'pair', timescaledb.compress_orderby = 'ts DESC');
        PERFORM add_compression_policy('pair_analytics'::regclass, interval '2 days', if_not_exists => true);
        PERFORM add_retention_policy('pair_analytics'::regclass,
            (SELECT keep FROM orderbook_retention WHERE table_name = 'pair_analytics'), if_not_exists => true);
    ELSE
        CREATE INDEX IF NOT EXISTS pair_analytics_ts_brin ON pair_analytics
            USING brin (ts) WITH (pages_per_range = 32);
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Raw trades (trades.raw, every venue's trade stream through the producer): one row per venue
-- trade, ts = the trade's event_time. The venue's trade id is unique per exchange:symbol, and a
-- trade keeps its event time wherever it is read again (a replay, a sink restart), so the key
-- (exchange, symbol, trade_id, ts) stores each trade once (ON CONFLICT DO NOTHING); ts is in it
-- because a TimescaleDB unique key must hold the partitioning column. Price and size are the
-- venue's exact decimals; receive_time_ns when the producer received the frame.
CREATE TABLE IF NOT EXISTS trades (
    ts               timestamptz NOT NULL,
    exchange         text        NOT NULL,
    market           text        NOT NULL,
    symbol           text        NOT NULL,
    trade_id         text        NOT NULL,
    price            numeric     NOT NULL,
    size             numeric     NOT NULL,
    side             text        NOT NULL CHECK (side IN ('buy', 'sell')),
    receive_time_ns  bigint      NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS trades_key ON trades (exchange, symbol, trade_id, ts);
INSERT INTO orderbook_retention (table_name, time_column, keep)
    VALUES ('trades', 'ts', interval '30 days')
ON CONFLICT (table_name) DO NOTHING;

-- Hypertable with compression and retention under TimescaleDB (as pair_analytics), else BRIN.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('trades'::regclass, 'ts'::name,
                                  chunk_time_interval => interval '1 day', if_not_exists => true,
                                  migrate_data => true);
        ALTER TABLE trades SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'exchange, symbol',
            timescaledb.compress_orderby = 'ts DESC, trade_id');
        PERFORM add_compression_policy('trades'::regclass, interval '2 days', if_not_exists => true);
        PERFORM add_retention_policy('trades'::regclass,
            (SELECT keep FROM orderbook_retention WHERE table_name = 'trades'), if_not_exists => true);
    ELSE
        CREATE INDEX IF NOT EXISTS trades_ts_brin ON trades USING brin (ts) WITH (pages_per_range = 32);
    END IF;
END
$$;
