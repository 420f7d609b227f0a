"""Run the example DAG locally: try 1 fails on purpose, Airflow retries, the retry re-runs only
the failed model and what depends on it, and the run ends green.

    make demo                                   # fails int_order_items_priced on try 1
    DBT_FORCE_FAILURE=stg_payments make demo    # fail another model instead
    DBT_FORCE_FAILURE= make demo                # no failure: one green try

DBT_FORCE_FAILURE names the model(s) that fail on an Airflow task's first try
(transform/macros/force_failure.sql). The DAG runs as written: off production, set_default_args()
retries within seconds.

It runs through Airflow's scheduler, as `make airflow` does (orchestrate.local_airflow): on the
Airflow of a running `make airflow`, else on one it starts for the run and stops after it. So each
try writes its task log where the UI reads it, and after `make demo`, `make airflow` shows the run
with both tries' logs. (`dag.test()` would be quicker to start, but it logs to its own process and
leaves the UI's log panes empty.) Here it prints the short story of each try, the lines
`@task.datacoves_dbt` logged and how the try ended, and names the file with the whole log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "retry_dbt_failures"
RUN_TIMEOUT = 600
# The loggers of DatacovesDbtOperator and @task.datacoves_dbt in a task log.
OPERATOR_LOGGERS = "airflow.task.operators.orchestrate."
LINE_LIMIT = 160


def shown(path: Path) -> str:
    """A path as short as it can be: relative to the repository when it is inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def story(task_log: Path) -> list[str]:
    """What a try's log says, without Airflow's and dbt's own lines: the operator's lines (the plan,
    the command, dbt's summary, the store) and, for a failed try, the error, without its traceback."""
    lines = []
    for line in task_log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if str(record.get("logger", "")).startswith(OPERATOR_LOGGERS):
                lines.append(str(record["event"]))
            elif record.get("event") == "Task failed with exception":
                lines += [f"{e['exc_type']}: {e['exc_value']}" for e in record.get("error_detail", [])]
    return [_cut(text) for line in lines for text in line.splitlines() if text.strip()]


def _cut(text: str) -> str:
    return text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 4] + " ..."


@contextlib.contextmanager
def local_airflow_url() -> Iterator[tuple[str, bool]]:
    """The URL of the running `make airflow` on the local home, or of one started for the block;
    and whether it is `make airflow`'s."""
    from orchestrate import local_airflow

    home = Path(os.environ["AIRFLOW_HOME"])
    if url := local_airflow.running_url(home):
        print(f"Using the Airflow of `make airflow` at {url} (its DBT_FORCE_FAILURE applies)")
        yield url, True
        return
    (port,) = local_airflow.free_ports(1)
    airflow = local_airflow.LocalAirflow(local_airflow.environment(api_port=port))
    print(f"Starting Airflow for this run (its output: {shown(airflow.logs)}/)...", flush=True)
    started = time.monotonic()
    with airflow.running():
        print(f"Airflow is up after {time.monotonic() - started:.0f} s", flush=True)
        yield airflow.url, False


def main() -> int:
    from orchestrate import config, local_airflow, local_env

    local_env.apply()
    os.environ.setdefault("DBT_FORCE_FAILURE", config.DEMO_FORCED_FAILURE)
    signal.signal(signal.SIGTERM, local_airflow.stop_on_sigterm)
    home = Path(os.environ["AIRFLOW_HOME"])
    print(f"Local Airflow home: {shown(home)}; DBT_FORCE_FAILURE={os.environ['DBT_FORCE_FAILURE']}")

    from orchestrate.airflow_api import AirflowApi

    with local_airflow_url() as (url, is_make_airflow), contextlib.closing(AirflowApi.connect(url)) as api:
        if error := api.wait_until_parsed({f"{DAG_ID}.py"}, local_airflow.START_TIMEOUT).get(f"{DAG_ID}.py"):
            raise SystemExit(f"dags/{DAG_ID}.py does not import, so there is nothing to run:\n{error}")
        run_id = api.trigger(DAG_ID)
        triggered = time.monotonic()
        print(f"Triggered {DAG_ID}: run {run_id}\n", flush=True)
        state = api.wait(DAG_ID, run_id, timeout=RUN_TIMEOUT)
        seconds = time.monotonic() - triggered
        print_stories(api, home / "logs", run_id)
        print_summary(api, run_id, f"{state} after {seconds:.0f} s")
    run_page = f"/dags/{DAG_ID}/runs/{run_id}"
    if is_make_airflow:
        print(f"\nSee it in Airflow's UI: {url}{run_page}")
    else:
        ui = f"http://127.0.0.1:{config.local_airflow_port()}"
        print(f"\nSee it in Airflow's UI: run `make airflow`, then open {ui}{run_page}")
    return 0 if state == "success" else 1


def print_stories(api, logs: Path, run_id: str) -> None:
    """Each try of each task: how it ended, its story, and the file with its whole log."""
    for task_id in api.task_instances(DAG_ID, run_id):
        for try_number, task_try in sorted(api.tries(DAG_ID, run_id, task_id).items()):
            # Airflow's default log_filename_template, under its base_log_folder ($AIRFLOW_HOME/logs).
            log = logs / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={try_number}.log"
            print(f"{task_id}, try {try_number}: {task_try.state}")
            print("\n".join(f"  {line}" for line in story(log)) if log.is_file() else "  (no log)")
            print(f"  the whole log: {shown(log)}")


def print_summary(api, run_id: str, outcome: str) -> None:
    """Each try of each task: how many nodes dbt ran, how they ended; where the artifacts are."""
    from orchestrate import config
    from orchestrate.dbt_api import DbtApiStore, TaskKey
    from orchestrate.dbt_results import counts_by_status, node_results

    store = DbtApiStore(config.dbt_api_url())
    print(f"\nDAG run {run_id}: {outcome}")
    for task_id, task in api.task_instances(DAG_ID, run_id).items():
        key = TaskKey(DAG_ID, run_id, task_id)
        total = None
        for try_number in store.tries(key):
            results = node_results(store.read_bytes(key, try_number, "run_results.json"))
            total = total or len(results)
            counts = ", ".join(f"{n} {status}" for status, n in counts_by_status(results).items())
            print(f"  {task_id} try {try_number}: ran {len(results)} of {total} nodes ({counts})")
            for result in results:
                if result.status in ("error", "fail"):
                    print(f"      {result.status}: {result.unique_id}")
        print(f"  {task_id}: {task.state} on try {task.try_number}; artifacts in {store.task_path(key)}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
