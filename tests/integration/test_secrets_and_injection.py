"""Secrets stay out of everything a run leaves behind; templated values cannot reach the shell; a
warehouse file that another process holds fails the try at once (the hint is tested in
tests/orchestrate/decorators/)."""

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from orchestrate.decorators.datacoves_dbt import SCRATCH_PREFIX

pytestmark = pytest.mark.integration

CANARY = "canary-7d1e0f-secret"


def files_holding(text: str, *roots: Path) -> list[Path]:
    needle = text.encode()
    return [path for root in roots for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_connection_password_reaches_no_artifact_xcom_or_file(dag_runner, monkeypatch):
    connection = {"conn_type": "duckdb", "host": str(dag_runner.warehouse), "password": CANARY}
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({**connection, "extra": {"token": CANARY}}))
    scratch_before = set(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"))

    state, tasks = dag_runner.run("retry_dbt_failures", DBT_FORCE_FAILURE="int_order_items_priced")

    assert (state, tasks["dbt_build"].try_number) == ("success", 2)
    assert CANARY not in json.dumps(tasks["dbt_build"].xcom)
    # Airflow's home holds its DB (XCom, rendered template fields). Task log files, which dag.test()
    # does not write, are scanned under a real Airflow: tests/scheduler/test_secrets.py.
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    assert files_holding(CANARY, airflow_home, Path(dag_runner.store.root.path)) == []
    # Each try's private profile folder is gone.
    assert set(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*")) == scratch_before


def test_a_hostile_conf_value_reaches_dbt_as_one_quoted_word(dag_runner, tmp_path):
    markers = [tmp_path / f"pwned-{i}" for i in range(3)]
    hostile = f"orders; touch {markers[0]} $(touch {markers[1]}) `touch {markers[2]}` {{{{ 7 * 7 }}}}"

    state, tasks = dag_runner.run("dbt_command_from_conf", conf={"select": hostile})

    assert state == "failed"  # dbt refuses the odd selector; the shell ran nothing of it
    assert [marker for marker in markers if marker.exists()] == []
    assert rendered_command("dbt_command_from_conf", "dbt_ls") == f"dbt ls -s '{hostile}'"


def rendered_command(dag_id: str, task_id: str) -> str:
    """The command as Airflow's UI shows it (rendered template fields, after execution)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(Rendered).where(Rendered.dag_id == dag_id, Rendered.task_id == task_id)
        return session.scalars(query).one().rendered_fields["bash_command"]


def test_a_warehouse_file_held_by_another_process_fails_fast(dag_runner):
    import duckdb

    with duckdb.connect(str(dag_runner.warehouse)):  # another writer holds the file
        started = time.monotonic()
        state, _ = dag_runner.run("dbt_build_once")
        took = time.monotonic() - started

    assert state == "failed"
    assert took < 120  # failed, not hung (a bound, not a speed goal)
