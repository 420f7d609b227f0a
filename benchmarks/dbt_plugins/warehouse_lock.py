"""A dbt-duckdb plugin that makes dbt processes queue for the warehouse file instead of failing.

DuckDB lets one process at a time open a database file for writing, and dbt-duckdb keeps it open
until the process ends: a second dbt process that starts meanwhile fails with "Could not set lock on
file". Under a real scheduler with two task slots, Cosmos runs two dbt processes at once. dbt-duckdb
creates its plugins just before it opens the file, after dbt has parsed the project, so this plugin
takes an exclusive lock on `<database file>.lock` there and holds it until the process ends:
parsing and everything Airflow does still overlap, only the warehouse is used one process at a time,
as one writer at a time is all DuckDB allows.

Used by `make bench` only (benchmarks/scheduler.py puts this folder on PYTHONPATH), in the profile:

    plugins:
      - module: warehouse_lock
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

# Held for the life of the process, as dbt-duckdb holds the database file.
_held: list[Any] = []


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        if _held:
            return  # an in-process dbt runner may open the warehouse again: this process holds it already
        lock = Path(f"{self.creds.path}.lock").open("a")  # noqa: SIM115  (closed when the process ends)
        fcntl.flock(lock, fcntl.LOCK_EX)
        _held.append(lock)
