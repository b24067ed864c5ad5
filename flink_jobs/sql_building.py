"""Small builders for the SQL text of the jobs: exact DOUBLE literals, sums over book levels, and
running a query against a Table without naming it by hand. The jobs are SQL because SQL runs in
the JVM; a Python UDF would cost a factor of 3 in throughput (see ../shared/notes.md)."""

from __future__ import annotations

import itertools

from pyflink.table import Table, TableEnvironment

_view_ids = itertools.count()


def sql_double(value: float) -> str:
    """A DOUBLE literal that parses to exactly `value` (a plain `0.1` would be a DECIMAL)."""
    return f"CAST({float(value):.17e} AS DOUBLE)"


def table_env(table: Table) -> TableEnvironment:
    """The TableEnvironment a Table belongs to (PyFlink keeps it on the Table)."""
    t_env: TableEnvironment = table._t_env
    return t_env


def query(source: Table, sql: str) -> Table:
    """Run `sql` with `{src}` standing for `source`, registered under a fresh temporary name."""
    t_env = table_env(source)
    name = f"obm_view_{next(_view_ids)}"
    t_env.create_temporary_view(name, source)
    return t_env.sql_query(sql.format(src=f"`{name}`"))


def level_sum(side: str, levels: int, term: str = "{s}_q{i}") -> str:
    """`COALESCE(term_1, 0) + … + COALESCE(term_n, 0)` over book levels 1..n of one side (`b` or
    `a`); a level past the end of the book is NULL, so shorter books just sum fewer levels."""
    terms = [f"COALESCE({term.format(s=side, i=i)}, 0)" for i in range(1, levels + 1)]
    return "(" + " + ".join(terms) + ")"


def safe_ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, NULL when the denominator is NULL or 0 (never NaN or Infinity,
    which JSON cannot carry)."""
    return f"(CASE WHEN ({denominator}) <> 0 THEN ({numerator}) / ({denominator}) END)"
