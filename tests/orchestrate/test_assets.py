"""Asset URIs of the tables dbt builds, which of them a try announces, and the alias a dbt task declares.

The nodes come from the project's own manifest (make manifest); results are made from them.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
from airflow.sdk import Asset, AssetAlias

from orchestrate import assets, manifest
from orchestrate.config import REPO_ROOT
from orchestrate.dbt_results import NodeResult


@pytest.fixture(scope="module")
def project_manifest() -> dict:
    return json.loads(manifest.require().read_bytes())


def relations(project_manifest: dict) -> dict[str, dict]:
    """Nodes that leave a table or view in the warehouse, by unique_id."""
    return {
        uid: node
        for uid, node in project_manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot") and node["config"]["materialized"] != "ephemeral"
    }


@pytest.mark.parametrize(
    ("adapter", "target", "expected"),
    [
        ("duckdb", {"path": "/any/where/shop.duckdb"}, "x-duckdb://shop/main/orders"),
        ("postgres", {"host": "db.example.com", "port": 5433}, "postgres://db.example.com:5433/shop/main/orders"),
        ("postgres", {"host": "db.example.com"}, "postgres://db.example.com:5432/shop/main/orders"),
    ],
)
def test_a_tables_uri_names_the_warehouse_database_schema_and_table(adapter, target, expected):
    assert assets.relation_uri(adapter, target, "shop", "main", "orders") == expected


@pytest.mark.parametrize(
    ("adapter", "target"), [("duckdb", {}), ("postgres", {"host": "db.example.com", "port": 5432})]
)
@pytest.mark.parametrize(("schema", "table"), [("main", "orders"), ("Sales Mart", "Daily/Revenue"), ("ü", "t%1")])
def test_airflow_leaves_the_uri_as_written_so_the_ui_shows_what_a_consumer_writes(adapter, target, schema, table):
    uri = assets.relation_uri(adapter, target, "shop", schema, table)

    assert Asset(uri=uri).uri == uri
    assert [urllib.parse.unquote(part) for part in uri.split("/")[-3:]] == ["shop", schema, table]


def test_an_adapter_without_a_uri_scheme_gets_none():
    assert assets.relation_uri("snowflake", {"account": "x"}, "db", "schema", "table") is None


def test_a_try_announces_each_table_it_built_successfully(project_manifest):
    tables = relations(project_manifest)
    built = sorted(tables)[::2]
    not_built = [(uid, ("error", "skipped")[i % 2]) for i, uid in enumerate(sorted(tables)[1::2])]
    tests = [uid for uid in project_manifest["nodes"] if uid.startswith("test.")]
    results = [
        *(NodeResult(uid, "success", 0.1, None) for uid in built),
        *(NodeResult(uid, status, 0.1, None) for uid, status in not_built),
        *(NodeResult(uid, "pass", 0.1, None) for uid in tests),
    ]

    announced = assets.built_tables(project_manifest, results, {"path": "/w/warehouse.duckdb"})

    assert [t.unique_id for t in announced] == built
    assert [t.asset.uri for t in announced] == [
        f"x-duckdb://{tables[uid]['database']}/{tables[uid]['schema']}/{tables[uid]['alias']}" for uid in built
    ]


def test_an_ephemeral_model_leaves_no_table_to_announce(project_manifest):
    uid, node = next(iter(relations(project_manifest).items()))
    ephemeral = {
        **project_manifest,
        "nodes": {uid: {**node, "config": {**node["config"], "materialized": "ephemeral"}}},
    }

    assert assets.built_tables(ephemeral, [NodeResult(uid, "success", 0.1, None)], {}) == []


def test_an_adapter_without_a_uri_scheme_announces_nothing_and_says_why(project_manifest):
    snowflake = {**project_manifest, "metadata": {**project_manifest["metadata"], "adapter_type": "snowflake"}}

    with pytest.raises(assets.NoAssetEvents, match="no asset URI scheme for dbt adapter 'snowflake'"):
        assets.built_tables(snowflake, [], {})


def test_a_command_that_wrote_no_run_results_announces_nothing(tmp_path):
    with pytest.raises(assets.NoAssetEvents, match="no run_results.json"):
        assets.tables_built_in(tmp_path, tmp_path / "profiles.yml", "default")


def test_each_dbt_task_declares_its_alias_when_the_dag_is_parsed():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=REPO_ROOT / "dags" / "retry_dbt_failures.py", safe_mode=False).dags["retry_dbt_failures"]

    assert AssetAlias(name="retry_dbt_failures.dbt_build.dbt") in dag.get_task("dbt_build").outlets
