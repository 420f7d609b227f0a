"""connection_to_env_vars() through Airflow: the command gets the connection's fields when it runs,
and its password reaches neither the XCom, the metadata DB (rendered fields) nor the store."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from orchestrate import config

pytestmark = pytest.mark.integration

CANARY = "canary-3b9a71-secret"


def test_the_command_gets_the_connection_and_its_password_is_kept_out_of_airflow(dag_runner, capfd):
    connection = {"conn_type": "duckdb", "host": str(dag_runner.warehouse), "login": "analyst", "password": CANARY}

    state, tasks = dag_runner.run(
        "connection_env", **{f"AIRFLOW_CONN_{config.CONNECTION_ID.upper()}": json.dumps(connection)}
    )

    task_log = capfd.readouterr().out
    assert state == "success"
    assert tasks["digest_the_password"].xcom == "user=analyst"  # the output's last line
    assert hashlib.sha256(CANARY.encode()).hexdigest()[:16] in task_log  # the password arrived
    assert CANARY not in task_log
    airflow_home = Path(os.environ["AIRFLOW_HOME"])  # its DB holds XCom and rendered template fields
    assert [path for path in airflow_home.rglob("*") if path.is_file() and CANARY.encode() in path.read_bytes()] == []
