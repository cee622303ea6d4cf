"""Reads the three Delta tables of a DeltaStore root with the `deltalake` Python package and
DuckDB, independently of tracing-etl, and prints what it saw as JSON (the Rust test
`delta::python_deltalake_and_duckdb_read_what_the_example_wrote` checks it).

Usage: python read_delta.py ROOT
"""

import json
import sys

import duckdb
from deltalake import DeltaTable, QueryBuilder

# The key columns of each table, as docs/stores.md lists them.
KEYS = {
    "pipeline_runs": ["run_id", "attempt"],
    "process_runs": ["process_run_id"],
    "step_runs": ["step_run_id"],
}

# The latest-row query of docs/stores.md: per key, an end row over a start row.
LATEST = """
SELECT * FROM (
  SELECT *, row_number() OVER (
    PARTITION BY {keys}
    ORDER BY CASE WHEN event LIKE '%end' THEN 0 ELSE 1 END
  ) AS row_rank
  FROM {table}
) AS ranked
WHERE row_rank = 1
"""


def key_text(table):
    """The key as one text: `run_id:attempt` for pipelines, the id otherwise."""
    if table == "pipeline_runs":
        return "run_id || ':' || CAST(attempt AS VARCHAR)"
    return KEYS[table][0]


def main(root):
    seen = {}
    duck = duckdb.connect()
    for table in KEYS:
        dt = DeltaTable(f"{root}/{table}")
        types = {f.name: f.type.type for f in dt.schema().fields}
        query = QueryBuilder().register(table, dt)
        rows = query.execute(f"SELECT count(*) AS n FROM {table}").read_all()
        latest_sql = LATEST.format(keys=", ".join(KEYS[table]), table=table)
        latest = query.execute(
            f"SELECT {key_text(table)} AS k, status FROM ({latest_sql}) AS l ORDER BY k"
        ).read_all()
        # DuckDB over the rows deltalake scanned (an Arrow stream), with the same query.
        stream = query.execute(f"SELECT * FROM {table}").read_all()
        duck.register(table, stream)
        latest_duck = duck.execute(
            f"SELECT {key_text(table)} AS k, status FROM ({latest_sql}) AS l ORDER BY k"
        ).fetchall()
        duck.unregister(table)
        seen[table] = {
            "types": types,
            "partition_columns": dt.metadata().partition_columns,
            "rows": duck_value(duck, rows, "n"),
            "latest_deltalake": duck_pairs(duck, latest),
            "latest_duckdb": [list(r) for r in latest_duck],
        }
        if table == "pipeline_runs":
            duck.register(table, stream)
            failed = duck.execute(
                f"SELECT run_id, failed_step, failed_step_run_id, error_message "
                f"FROM ({latest_sql}) AS l WHERE status = 'failed'"
            ).fetchall()
            duck.unregister(table)
            run_id, step, step_run_id, message = failed[0]
            seen["failed_run"] = {
                "run_id": run_id,
                "failed_step": step,
                "failed_step_run_id": step_run_id,
                "error_message": message,
            }
    json.dump(seen, sys.stdout)


def duck_value(duck, arrow, column):
    """One value of a one-row Arrow table (read through DuckDB: no pyarrow needed)."""
    duck.register("one", arrow)
    value = duck.execute(f"SELECT {column} FROM one").fetchall()[0][0]
    duck.unregister("one")
    return value


def duck_pairs(duck, arrow):
    """The (k, status) rows of an Arrow table, in order."""
    duck.register("pairs", arrow)
    rows = duck.execute("SELECT k, status FROM pairs ORDER BY k").fetchall()
    duck.unregister("pairs")
    return [list(r) for r in rows]


if __name__ == "__main__":
    main(sys.argv[1])
