"""One measurement in a fresh Python process; `benchmarks/run.py` starts these and collects their JSON.

    python benchmarks/measure.py cycle template PROJECT STATE_DIR [--fail MODEL]
        one run of dags/bench_template.py with dag.test(), a real Airflow metadata DB, dbt and a
        fresh DuckDB file; MODEL fails on its first try. Prints the run's wall time, each task's
        tries, each try's time and the nodes the retry re-ran. (Runs under a real scheduler, and
        the peers, are in scheduler.py.)
    python benchmarks/measure.py parse STATE_DIR FILE [FILE ...]
        imports Airflow, then parses each DAG file as Airflow's DAG processor does (DagBag);
        prints both times. BENCH_PROJECT names the project a benchmark DAG is drawn over.

Each prints one JSON object as its last line of output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DAGS = HERE / "dags"
CONNECTION = "AIRFLOW_CONN_BENCH_WAREHOUSE"


def cycle(contender: str, project: Path, state_dir: Path, fail: str | None) -> dict[str, Any]:
    """Run bench_<contender> once over `project`; return wall time, tries and (template) node sets."""
    from orchestrate import local_env

    local_env.apply(state_dir)
    warehouse = state_dir / f"warehouse-{uuid.uuid4().hex[:8]}.duckdb"
    os.environ[CONNECTION] = json.dumps({"conn_type": "duckdb", "host": str(warehouse)})
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    os.environ["BENCH_PROJECT"] = str(project)
    os.environ.pop("BENCH_FAIL_MODEL", None)
    if fail:
        os.environ["BENCH_FAIL_MODEL"] = fail

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import upgradedb

    upgradedb()
    executed = _time_template_tries() if contender == "template" else []
    dag_id = f"bench_{contender}"
    dag = DagBag(dag_folder=DAGS / f"{dag_id}.py", safe_mode=False).get_dag(dag_id)
    for task in dag.tasks:  # the same for both: retry at once
        task.retry_delay = timedelta(0)
        task.retry_exponential_backoff = 0
    started = time.perf_counter()
    dag_run = dag.test()
    wall = time.perf_counter() - started
    try:
        tries = _tries(dag_run)
        result = {"contender": contender, "state": dag_run.state, "wall_s": wall, "tasks": len(tries), "tries": tries}
        if contender == "template":
            result |= {"execute_s": executed} | _retried_nodes(dag_run)
        return result
    finally:
        warehouse.unlink(missing_ok=True)


def _time_template_tries() -> list[float]:
    """Time each try of `@task.datacoves_dbt` from its first step to its last (working copy to upload).

    Airflow's own start of a try also counts the first task's start-up of dag.test()'s in-process
    API, which a scheduler's task processes do not pay; so the template's tries are timed here.
    """
    from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

    durations: list[float] = []
    execute = DatacovesDbtOperator.execute

    def timed(self, context):
        started = time.perf_counter()
        try:
            return execute(self, context)
        finally:
            durations.append(time.perf_counter() - started)

    DatacovesDbtOperator.execute = timed
    return durations


def _tries(dag_run) -> dict[str, list[float]]:
    """Each task's tries, oldest first, as durations in seconds."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    tries: dict[str, list[tuple[int, float]]] = {}
    with create_session() as session:
        query = select(TaskInstanceHistory).where(
            TaskInstanceHistory.dag_id == dag_run.dag_id, TaskInstanceHistory.run_id == dag_run.run_id
        )
        for old in session.scalars(query):
            tries.setdefault(old.task_id, []).append((old.try_number, _duration(old)))
    for ti in dag_run.get_task_instances():
        tries.setdefault(ti.task_id, []).append((ti.try_number, _duration(ti)))
    return {task_id: [seconds for _, seconds in sorted(found)] for task_id, found in tries.items()}


def _duration(ti) -> float:
    return (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else 0.0


def _retried_nodes(dag_run) -> dict[str, Any]:
    """What the template's retry ran, against the failed subtree computed from dbt's manifest."""
    from orchestrate import config
    from orchestrate.dbt_api import DbtApiStore, TaskKey
    from orchestrate.dbt_results import descendants

    store = DbtApiStore(config.dbt_api_url())
    key = TaskKey(dag_run.dag_id, dag_run.run_id, "dbt_build")
    tries = store.tries(key)
    first = _nodes(store.read_bytes(key, tries[0], "run_results.json"))
    found: dict[str, Any] = {"nodes_first_try": len(first)}
    if len(tries) > 1:
        errored = {r.unique_id for r in first if r.status == "error"}
        subtree = descendants(store.read_bytes(key, tries[-1], "manifest.json"), errored)
        retried = {r.unique_id for r in _nodes(store.read_bytes(key, tries[-1], "run_results.json"))}
        found |= {"nodes_failed_subtree": len(subtree), "nodes_retried": len(retried), "equal": retried == subtree}
    return found


def _nodes(run_results: bytes) -> list:
    """The project's nodes in a run_results.json: without the on-run-end hook, which every invocation runs."""
    from orchestrate.dbt_results import node_results

    return [r for r in node_results(run_results) if not r.unique_id.startswith("operation.")]


def parse(state_dir: Path, files: list[Path]) -> dict[str, Any]:
    """Seconds to import Airflow, then to parse each file into DAGs (one process, as the DAG processor)."""
    from orchestrate import local_env

    local_env.apply(state_dir)
    started = time.perf_counter()
    import airflow.sdk  # noqa: F401  (what every DAG file imports first)
    from airflow.dag_processing.dagbag import DagBag

    imported = time.perf_counter()
    per_file = {}
    for file in files:
        before = time.perf_counter()
        bag = DagBag(dag_folder=file, safe_mode=False)
        if bag.import_errors:
            raise RuntimeError(f"{file} failed to parse: {bag.import_errors}")
        per_file[file.name] = time.perf_counter() - before
    return {"airflow_import_s": imported - started, "parse_s": sum(per_file.values()), "per_file_s": per_file}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("cycle")
    run.add_argument("contender", choices=["template"])
    run.add_argument("project", type=Path)
    run.add_argument("state_dir", type=Path)
    run.add_argument("--fail")
    files = commands.add_parser("parse")
    files.add_argument("state_dir", type=Path)
    files.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    if args.command == "cycle":
        result = cycle(args.contender, args.project, args.state_dir, args.fail)
    else:
        result = parse(args.state_dir, args.files)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
