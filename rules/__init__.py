"""User alert rules (issue 15): the rule model and its validation (model.py), the metrics a rule may
watch, read from the topic schemas (catalogue.py), the store in PostgreSQL with its history and the
compacted `rules.changes` topic (store.py, publish.py). The rules are evaluated per record by the
Java function RuleFunction in the `rules` Flink job (flink_jobs/user_rules.py)."""
