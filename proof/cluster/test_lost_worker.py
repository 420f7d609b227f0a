"""A worker killed (SIGKILL, with every process under it) in the middle of a try, as if its machine died.

Try 1 fails on worker-1 and stores its results. Try 2, on worker-2, re-runs the failed subtree and
then stores a big file; the test kills worker-2 while that upload is under way. Nobody reports the
try's end: the scheduler fails it once its heartbeat is too old, and try 3 runs on worker-1. It
finds no complete results of try 2, removes what the killed upload left, starts from try 1's
results and completes. Meanwhile worker-2 starts again, as its machine coming back would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from orchestrate.dbt_api import PARTIAL, TaskKey
from orchestrate.dbt_results import descendants, node_results
from proof.cluster.conftest import TIMINGS

pytestmark = pytest.mark.cluster

DAG_ID = "lost_worker"  # proof/cluster/dags/lost_worker.py
TASK_ID = "dbt_build"
BALLAST = "ballast.bin"
VICTIM = "worker-2"  # runs try 2
TIMEOUT = 300


@dataclass
class LostRun:
    run_id: str
    state: str
    killed: list[int]  # pids of the processes killed
    mid_upload: str  # what of the big file was in the bucket when the worker died


def upload_under_way(s3_server, prefix: str) -> str:
    """What of the big file is in the bucket: a temporary object, a multipart upload, or nothing."""
    client = s3_server.client()
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix).get("Uploads", [])
    if any(BALLAST in upload["Key"] for upload in uploads):
        return "multipart upload"
    names = [key.rpartition("/")[2] for key in s3_server.object_keys(prefix)]
    return "temporary object" if any(PARTIAL.match(n) and n.startswith(f".{BALLAST}.") for n in names) else ""


@pytest.fixture(scope="module")
def lost_run(airflow_cluster, s3_server) -> LostRun:
    airflow_cluster.wait_until_workers_idle(timeout=TIMEOUT)  # the kill must hit this run's try alone
    run_id = airflow_cluster.trigger(DAG_ID)
    prefix = f"dbt_api/{DAG_ID}/{run_id}/{TASK_ID}/try-2/"
    deadline = time.monotonic() + TIMEOUT
    while not (under_way := upload_under_way(s3_server, prefix)):  # the moment of the fault
        airflow_cluster.check_running()
        assert time.monotonic() < deadline, f"try 2 never began to upload {BALLAST}"
        time.sleep(0.02)
    killed = airflow_cluster.lose_worker(VICTIM)
    state = airflow_cluster.wait(DAG_ID, run_id, timeout=TIMEOUT)
    if TIMINGS:
        print(f"\n{VICTIM} killed ({len(killed)} processes) with a {under_way} of {BALLAST} in the bucket")
    return LostRun(run_id, state, killed, under_way)


def test_the_try_on_the_lost_worker_fails_and_the_next_one_completes_on_the_other(lost_run, airflow_cluster):
    tries = airflow_cluster.tries(DAG_ID, lost_run.run_id, TASK_ID)

    assert lost_run.killed
    assert lost_run.mid_upload
    assert lost_run.state == "success"
    assert {n: (t.state, t.hostname) for n, t in tries.items()} == {
        1: ("failed", "worker-1"),
        2: ("failed", "worker-2"),
        3: ("success", "worker-1"),
    }


def test_the_killed_upload_left_no_results_and_no_torn_or_temporary_file(lost_run, airflow_cluster, s3_server):
    key = TaskKey(DAG_ID, lost_run.run_id, TASK_ID)
    store = airflow_cluster.store
    prefix = f"dbt_api/{DAG_ID}/{lost_run.run_id}/{TASK_ID}/"
    names = [k.removeprefix(prefix) for k in s3_server.object_keys(prefix)]

    assert store.latest_try_with(key, "run_results.json", before=3) == 1  # try 2 stored no results
    assert [n for n in names if PARTIAL.match(n.rpartition("/")[2])] == []  # try 3 removed what it left
    ballast = s3_server.client().head_object(Bucket=s3_server.bucket, Key=f"{prefix}try-3/{BALLAST}")
    assert ballast["ContentLength"] == 64 * 2**20  # the one stored whole, by try 3


def test_the_try_after_the_lost_one_reran_try_1s_failed_subtree(lost_run, airflow_cluster):
    key = TaskKey(DAG_ID, lost_run.run_id, TASK_ID)
    store = airflow_cluster.store
    first = node_results(store.read_bytes(key, 1, "run_results.json"))
    errored = {r.unique_id for r in first if r.status == "error"}
    last = {r.unique_id for r in node_results(store.read_bytes(key, 3, "run_results.json"))}

    assert errored == {f"model.shop.{airflow_cluster.forced_failure}"}
    assert last == descendants(store.read_bytes(key, 3, "manifest.json"), errored)
    log = "\n".join(airflow_cluster.wait_for_task_log(DAG_ID, lost_run.run_id, TASK_ID, 3, "into logs/"))
    assert "downloaded ['run_results.json'] from try 1 into logs/" in log
