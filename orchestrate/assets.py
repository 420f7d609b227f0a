"""Airflow assets for the tables dbt builds: after a successful try, one asset event for each model,
seed and snapshot that this try built, so other DAGs can be scheduled on the tables they read.

One dbt task builds many tables, and which ones a try builds is known only when dbt has run (a
retry rebuilds only what failed). So the events go through an `AssetAlias`, one per task, which the
operator declares when the DAG is parsed (no manifest is read then); the try adds an asset for each
table to it. Airflow records the events of a successful try only: a try that fails (a first try
whose model errored) records none, and its retry records the tables it rebuilt.

Asset URIs (a consumer schedules on `Asset(uri=...)` with the same string):

    DuckDB     x-duckdb://<database>/<schema>/<table>            x-duckdb://warehouse/main/orders
    Postgres   postgres://<host>:<port>/<database>/<schema>/<table>

`<database>`, `<schema>` and `<table>` are the relation dbt built, from its manifest (`database`,
`schema`, `alias`), each percent-encoded. Airflow 3.3 normalises asset URIs, and these come out of
it unchanged, so the URI shown in the UI is the one to write in a consumer:
- Postgres is the form the Postgres provider defines (and that Cosmos and OpenLineage emit).
- No Airflow provider defines a DuckDB scheme, and for those Airflow asks for an `x-` prefix: it
  leaves such URIs as they are. The database is DuckDB's name for the file (its stem, unless the
  profile names it), not the file's path: paths differ from one machine to the next, and a URI
  with an empty host (`duckdb:///path/...`, Cosmos' form) is rewritten by Airflow
  (`duckdb:/path/...`), so the same table would have two spellings, and a consumer that copied the
  one from the UI would never run.
Other adapters get no events (the try logs why); add a line to `_AUTHORITIES` for yours.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import Asset, AssetAlias

from orchestrate.dbt_results import NodeResult, node_results

# Nodes that leave a relation in the warehouse (an ephemeral model leaves none).
BUILT_TYPES = frozenset({"model", "seed", "snapshot"})

# dbt adapter -> the scheme and authority of its URIs, from the target of the profile dbt ran with.
_AUTHORITIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "duckdb": lambda _output: "x-duckdb://",
    "postgres": lambda output: f"postgres://{output['host']}:{output.get('port', 5432)}/",
}


def model_alias(dag_id: str | None, task_id: str) -> AssetAlias:
    """The alias a dbt task adds its tables' assets to: `<dag_id>.<task_id>.dbt`."""
    return AssetAlias(name=".".join([*([dag_id] if dag_id else []), task_id, "dbt"]))


def relation_uri(adapter: str, target: dict[str, Any], database: str, schema: str, table: str) -> str | None:
    """The asset URI of one relation; None for an adapter this module has no URI scheme for."""
    authority = _AUTHORITIES.get(adapter)
    if authority is None:
        return None
    path = "/".join(urllib.parse.quote(part, safe="") for part in (database, schema, table))
    return authority(target) + path


@dataclass(frozen=True)
class BuiltTable:
    """A relation a try built: its asset, and the dbt node that built it."""

    asset: Asset
    unique_id: str


class NoAssetEvents(Exception):
    """Why a try emits no asset events (a command that builds nothing, an adapter with no URI scheme)."""


def built_tables(manifest: dict[str, Any], results: Iterable[NodeResult], target: dict[str, Any]) -> list[BuiltTable]:
    """The relations that `results` (one try's run_results) built successfully, as assets.

    `target` is the profile's target that dbt ran with.
    """
    adapter = manifest["metadata"]["adapter_type"]
    if adapter not in _AUTHORITIES:
        raise NoAssetEvents(
            f"no asset URI scheme for dbt adapter {adapter!r} (orchestrate/assets.py knows "
            f"{', '.join(sorted(_AUTHORITIES))})"
        )
    nodes = manifest["nodes"]
    tables = []
    for result in results:
        node = nodes.get(result.unique_id, {})
        materialized = node.get("config", {}).get("materialized")
        if result.status != "success" or node.get("resource_type") not in BUILT_TYPES or materialized == "ephemeral":
            continue
        uri = relation_uri(adapter, target, node["database"], node["schema"], node.get("alias") or node["name"])
        tables.append(BuiltTable(Asset(uri=uri), result.unique_id))
    return tables


def tables_built_in(target_dir: Path, profiles_file: Path, target: str) -> list[BuiltTable]:
    """What the dbt run that wrote `target_dir` (its target/ folder) built, from its artifacts.

    `profiles_file` and `target` are the profile it ran with.
    """
    run_results, manifest = target_dir / "run_results.json", target_dir / "manifest.json"
    if not (run_results.is_file() and manifest.is_file()):
        raise NoAssetEvents("dbt wrote no run_results.json and manifest.json (a command that builds nothing)")
    profiles = yaml.safe_load(profiles_file.read_text())
    (profile,) = (value for name, value in profiles.items() if name != "config")
    return built_tables(
        json.loads(manifest.read_bytes()), node_results(run_results.read_bytes()), profile["outputs"][target]
    )
