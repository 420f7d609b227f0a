"""Four DAG runs at once across the two workers (with the example DAG's run), each failing its own
model on its first try.

The retries share the workers, the bucket and the warehouse's database, and none may read another
run's results: each retry must re-run exactly its own run's failed subtree, computed from the
manifest and that run's try 1 as stored. The four subtrees differ, so cross-talk would show.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from orchestrate.dbt_api import TaskKey
from orchestrate.dbt_results import NodeResult, descendants
from proof.cluster.conftest import PARALLEL_FAILURES, RUN_TIMEOUT

pytestmark = pytest.mark.cluster

DAG_ID = "parallel_forced_failures"  # proof/cluster/dags/parallel_forced_failures.py
TASK_ID = "dbt_build"


@dataclass
class Run:
    run_id: str
    fail: str
    state: str
    hostnames: dict[int, str | None]  # try number -> the worker that ran it
    results: dict[int, list[NodeResult]]  # try number -> its run_results.json, from S3
    manifest: bytes

    def nodes(self, try_number: int, *statuses: str) -> set[str]:
        return {r.unique_id for r in self.results[try_number] if not statuses or r.status in statuses}


@pytest.fixture(scope="module")
def runs(airflow_cluster, dag_runs) -> list[Run]:
    """The four runs (conftest.py `dag_runs`), triggered together with the example DAG's."""
    runs = []
    for run_id, fail in zip(dag_runs[DAG_ID], PARALLEL_FAILURES, strict=True):
        state = airflow_cluster.wait(DAG_ID, run_id, timeout=RUN_TIMEOUT)
        results, manifest = airflow_cluster.stored(TaskKey(DAG_ID, run_id, TASK_ID))
        tries = airflow_cluster.tries(DAG_ID, run_id, TASK_ID)
        runs.append(Run(run_id, fail, state, {n: t.hostname for n, t in tries.items()}, results, manifest))
    return runs


def test_every_run_fails_once_on_one_worker_and_ends_green_on_the_other(runs):
    for run in runs:
        assert run.state == "success", run.run_id
        assert run.hostnames == {1: "worker-1", 2: "worker-2"}, run.run_id


def test_every_retry_reruns_exactly_its_own_runs_failed_subtree(runs):
    retried = []
    for run in runs:
        errored = run.nodes(1, "error")

        assert errored == {f"model.shop.{run.fail}"}, run.run_id
        assert run.nodes(2) == descendants(run.manifest, errored), run.run_id
        retried.append(frozenset(run.nodes(2)))

    # Every retry had a different set to re-run, so one that read another run's results fails above.
    assert len(set(retried)) == len(PARALLEL_FAILURES)
