"""The warehouse connection's password and the store connection's secret key are canaries: after the
example DAG's failed and retried run, neither may be anywhere the cluster wrote. Scanned: every
file under the cluster's folder (task and process logs, the workers' homes and temp folders), every
object in the bucket (the dbt API store and the task logs), a dump of the metadata DB and of the
Celery broker's (XCom, rendered template fields, ...), and the REST API's answers about the run.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from proof.cluster.local_postgres import BIN

pytestmark = pytest.mark.cluster

DAG_ID = "retry_dbt_failures"
TASK_ID = "dbt_build"


def files_under(root: Path) -> list[Path]:
    """Every regular file under `root`, links not followed (they lead into the repository)."""
    found = []
    for folder, _, names in os.walk(root):
        found += [Path(folder, name) for name in names if not Path(folder, name).is_symlink()]
    return found


def pg_dump(url: str) -> bytes:
    """A plain-SQL dump of a database of the cluster's Postgres, from its SQLAlchemy URL."""
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    command = [str(BIN / "pg_dump"), "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username]
    return subprocess.run([*command, parts.path.lstrip("/")], env=env, capture_output=True, check=True).stdout


def test_no_canary_reaches_logs_the_store_the_metadata_db_or_the_api(example_run, airflow_cluster, s3_server, canaries):
    airflow_cluster.wait_until_workers_idle()  # every try's log is in the bucket
    run = f"/api/v2/dags/{DAG_ID}/dagRuns/{example_run.run_id}"
    answers = json.dumps(
        [
            airflow_cluster.call("GET", f"{run}/taskInstances/{TASK_ID}"),  # its rendered template fields
            airflow_cluster.call("GET", f"{run}/taskInstances/{TASK_ID}/tries"),
            airflow_cluster.call("GET", f"{run}/taskInstances/{TASK_ID}/xcomEntries/return_value"),
            *(airflow_cluster.task_log(DAG_ID, example_run.run_id, TASK_ID, n) for n in example_run.tries),
        ]
    )
    client = s3_server.client()
    objects = {
        key: client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() for key in s3_server.object_keys()
    }
    files = {path: path.read_bytes() for path in files_under(airflow_cluster.root)}
    dumps = {name: pg_dump(url) for name, url in airflow_cluster.metadata.items()}

    # Each place held something to scan: the run's task logs, its stored files, its XCom and rendered command.
    assert any(key.startswith("logs/") and example_run.run_id in key for key in objects)
    assert any(key.startswith("dbt_api/") and example_run.run_id in key for key in objects)
    assert b"dbt build -s result:error+ --state logs" in dumps["airflow"]
    for canary in canaries:
        secret = canary.encode()
        assert canary not in answers
        assert [key for key, body in objects.items() if secret in body] == []
        assert [str(path) for path, body in files.items() if secret in body] == []
        assert [name for name, dump in dumps.items() if secret in dump] == []
