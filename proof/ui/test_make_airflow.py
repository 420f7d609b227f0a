"""`make airflow` as a user runs it: everything on 127.0.0.1, every DAG file parsed, `make demo`
running its story on it, and Ctrl-C or SIGTERM leaving nothing behind, dbt included."""

from __future__ import annotations

import contextlib
import ipaddress
import signal

import psutil
import pytest

from orchestrate.airflow_api import AirflowApi, poll
from orchestrate.config import DEMO_FORCED_FAILURE, REPO_ROOT
from orchestrate.local_airflow import cmdline

pytestmark = pytest.mark.ui

DBT_STARTS_TIMEOUT = 180


def listening(processes: list[psutil.Process]) -> list[tuple[str, str, int]]:
    """Every socket the processes listen on (TCP) or are bound to (UDP): (process, address, port)."""
    found = []
    for process in processes:
        try:
            sockets = process.net_connections(kind="inet")
            name = process.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for sock in sockets:
            if sock.status == psutil.CONN_LISTEN or (sock.type == 2 and sock.laddr and not sock.raddr):
                found.append((f"{process.pid} {name}", sock.laddr.ip, sock.laddr.port))
    return found


def test_every_component_listens_on_127_0_0_1_only(make_airflow, demo_run):
    sockets = listening(make_airflow.processes())

    assert ("127.0.0.1", int(make_airflow.url.rsplit(":", 1)[1])) in {(ip, port) for _, ip, port in sockets}
    assert [s for s in sockets if not ipaddress.ip_address(s[1]).is_loopback] == []


def test_every_dag_file_parses_without_import_errors(make_airflow, api):
    dag_files = {path.name for path in (REPO_ROOT / "dags").glob("*.py")}

    assert set(api.dag_files()) == dag_files
    assert api.import_errors() == {}


def test_make_demo_on_it_prints_the_story_of_each_try_and_not_the_framework_logs(demo_run):
    lines = demo_run.output.splitlines()

    assert demo_run.returncode == 0, demo_run.output
    assert "Using the Airflow of `make airflow`" in demo_run.output
    for expected in (
        "dbt_build, try 1: failed",
        "Try 1: no earlier results to retry from; running the full command",
        f"error model.shop.{DEMO_FORCED_FAILURE}",
        "AirflowException: Bash command failed",
        "dbt_build, try 2: success",
        "Try 2 is a retry",
        "dbt_build: success on try 2",
    ):
        assert any(expected in line for line in lines), expected
    whole_logs = [line for line in lines if "the whole log: " in line]
    assert [line.rsplit("attempt=", 1)[1] for line in whole_logs] == ["1.log", "2.log"]
    # dbt's own output and Airflow's traceback stay in the log files.
    assert not [line for line in lines if " START " in line or "Traceback" in line or 'File "' in line]
    assert len(lines) < 60


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_leaves_no_process_behind_even_while_dbt_runs(start_make_airflow, tmp_path, sig):
    airflow = start_make_airflow(tmp_path, DBT_FORCE_FAILURE=DEMO_FORCED_FAILURE)
    try:
        with contextlib.closing(AirflowApi.connect(airflow.url)) as api:
            api.trigger("retry_dbt_failures")
        dbt = poll(
            lambda: [p for p in airflow.processes() if any(word.endswith("/dbt") for word in cmdline(p))],
            DBT_STARTS_TIMEOUT,
            "dbt to run",
            airflow.check_running,
        )
        running = airflow.processes()

        code = airflow.stop(sig)

        assert code == 0, airflow.text()
        assert len(running) > len(dbt) > 0  # the components, their workers and the task's dbt
        assert airflow.processes() == []
        assert "Stopped." in airflow.text()
    finally:
        if airflow.process.poll() is None:
            airflow.stop(signal.SIGKILL)
        airflow.kill_leftovers()
