"""The connections of the test Airflow carry a canary password; after the example DAG's failing and
retried run, no file of that Airflow (task logs, metadata DB with XCom and rendered template
fields, the dbt API store, the warehouse) and no REST answer about the run may contain it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.scheduler


def test_the_connection_password_is_nowhere_after_a_retried_run(airflow_server, canary):
    run_id = airflow_server.trigger("retry_dbt_failures")
    assert airflow_server.wait("retry_dbt_failures", run_id, timeout=240) == "success"
    answers = [
        airflow_server.call("GET", f"/api/v2/dags/retry_dbt_failures/dagRuns/{run_id}/taskInstances"),
        airflow_server.call("GET", f"/api/v2/dags/retry_dbt_failures/dagRuns/{run_id}/taskInstances/dbt_build/tries"),
    ]

    holding = [p for p in Path(airflow_server.root).rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]

    assert list(Path(airflow_server.home, "logs").rglob("*.log"))  # there were task logs to scan
    assert holding == []
    assert canary not in json.dumps(answers)
