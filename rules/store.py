"""The rules store: PostgreSQL holds each rule's current version (alert_rules) and every version
ever written, by whom and when (alert_rule_history); each change is written to both in one
transaction and then published to the compacted rules.changes topic (publish.py), which is how
the running rules job learns of it. Used by `obm rules` and the dashboard's Rules page, so both
validate (model.parse_rule) and record history the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rules.model import Rule, RuleInvalid, parse_rule
from rules.publish import Publisher

RULE_FIELDS = ("name", "metric", "scope", "condition", "threshold", "min_duration_ms", "cooldown_ms",
               "severity", "enabled", "source")  # fmt: skip
COLUMNS = ("rule_id", "version", *RULE_FIELDS, "deleted", "changed_by", "changed_at")


class RuleNotFound(LookupError):
    def __init__(self, rule_id: int) -> None:
        super().__init__(
            f"no rule {rule_id} (deleted rules cannot be changed; `obm rules list` shows the others)"
        )


@dataclass(frozen=True)
class StoredRule:
    rule: Rule
    deleted: bool
    changed_by: str
    changed_at: datetime

    def record(self) -> dict[str, Any]:
        """This version as a record of rules.changes (schemas/rules.changes.v1)."""
        fields = self.rule.as_dict()
        return {
            "schema_version": 1, **{k: fields[k] for k in ("rule_id", "version", *RULE_FIELDS)},
            "deleted": self.deleted, "changed_by": self.changed_by,
            "changed_at": int(self.changed_at.timestamp() * 1000),
        }  # fmt: skip


def _stored(row: dict[str, Any]) -> StoredRule:
    rule = Rule(**{k: row[k] for k in ("rule_id", "version", *RULE_FIELDS)})
    return StoredRule(rule, row["deleted"], row["changed_by"], row["changed_at"])


class RulesStore:
    """Every change: validate, write the rule and its history row in one transaction, publish."""

    def __init__(self, conn: psycopg.Connection[Any], publisher: Publisher) -> None:
        self.conn = conn
        self.publisher = publisher

    def listed(self, *, include_deleted: bool = False) -> list[StoredRule]:
        where = "" if include_deleted else "WHERE NOT deleted"
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT {', '.join(COLUMNS)} FROM alert_rules {where} ORDER BY rule_id"
            ).fetchall()
        return [_stored(r) for r in rows]

    def get(self, rule_id: int) -> StoredRule:
        with self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {', '.join(COLUMNS)} FROM alert_rules WHERE rule_id = %s AND NOT deleted", (rule_id,)
            ).fetchone()
        if row is None:
            raise RuleNotFound(rule_id)
        return _stored(row)

    def add(self, fields: dict[str, Any], by: str) -> StoredRule:
        rule = parse_rule({**fields, "rule_id": 0, "version": 1})
        with self.conn.transaction():
            row = self.conn.execute(
                f"INSERT INTO alert_rules (version, {', '.join(RULE_FIELDS)}, deleted, changed_by, changed_at)"
                f" VALUES (1, {', '.join(['%s'] * len(RULE_FIELDS))}, false, %s, %s) RETURNING rule_id",
                (*(getattr(rule, f) for f in RULE_FIELDS), by, _now()),
            ).fetchone()
            assert row is not None
            stored = self._history(int(row[0]), "add")
        return self._published(stored)

    def edit(self, rule_id: int, changes: dict[str, Any], by: str) -> StoredRule:
        """Change some fields; the whole rule is validated again. RuleInvalid names the fields."""
        unknown = set(changes) - set(RULE_FIELDS)
        if unknown:
            raise RuleInvalid({f: "not a field of a rule" for f in sorted(unknown)})
        current = self.get(rule_id)
        rule = parse_rule({**current.rule.as_dict(), **changes})
        action = "edit" if set(changes) - {"enabled"} else ("enable" if rule.enabled else "disable")
        return self._write(replace(rule, rule_id=rule_id), False, action, by)

    def set_enabled(self, rule_id: int, enabled: bool, by: str) -> StoredRule:
        return self.edit(rule_id, {"enabled": enabled}, by)

    def delete(self, rule_id: int, by: str) -> StoredRule:
        return self._write(self.get(rule_id).rule, True, "delete", by)

    def history(self, rule_id: int | None = None) -> list[dict[str, Any]]:
        """Every version written, oldest first: rule_id, version, action, rule (as written), who, when."""
        where, args = ("WHERE rule_id = %s", (rule_id,)) if rule_id is not None else ("", ())
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                f"SELECT rule_id, version, action, rule, changed_by, changed_at FROM alert_rule_history {where}"
                " ORDER BY changed_at, rule_id, version",
                args,
            ).fetchall()

    def publish_all(self) -> int:
        """Send every rule's current version again (deleted ones too): after a change the topic
        did not take, or to a new broker. Idempotent: the topic is compacted per rule."""
        stored = self.listed(include_deleted=True)
        self.publisher.publish([s.record() for s in stored])
        return len(stored)

    def _write(self, rule: Rule, deleted: bool, action: str, by: str) -> StoredRule:
        with self.conn.transaction():
            updated = self.conn.execute(
                f"UPDATE alert_rules SET version = version + 1, {', '.join(f'{f} = %s' for f in RULE_FIELDS)},"
                " deleted = %s, changed_by = %s, changed_at = %s WHERE rule_id = %s AND NOT deleted",
                (*(getattr(rule, f) for f in RULE_FIELDS), deleted, by, _now(), rule.rule_id),
            )
            if updated.rowcount != 1:
                raise RuleNotFound(rule.rule_id)
            stored = self._history(rule.rule_id, action)
        return self._published(stored)

    def _history(self, rule_id: int, action: str) -> StoredRule:
        with self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {', '.join(COLUMNS)} FROM alert_rules WHERE rule_id = %s", (rule_id,)
            ).fetchone()
        assert row is not None
        stored = _stored(row)
        self.conn.execute(
            "INSERT INTO alert_rule_history (rule_id, version, action, rule, changed_by, changed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                rule_id,
                stored.rule.version,
                action,
                json.dumps(stored.record()),
                stored.changed_by,
                stored.changed_at,
            ),
        )
        return stored

    def _published(self, stored: StoredRule) -> StoredRule:
        self.publisher.publish([stored.record()])
        return stored


def _now() -> datetime:
    return datetime.now(UTC)
