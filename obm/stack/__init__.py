"""The embedded local stack: real Kafka (KRaft), PostgreSQL, Redis and a Flink session cluster as
local processes, plus the project's own services, started in dependency order. The same code
starts the services for `obm up` and for the test fixtures."""
