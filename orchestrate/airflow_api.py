"""A small client for the REST API of a running Airflow 3.3: trigger a DAG run, wait for it, read its tries.

`make demo` drives the local Airflow with it, and `make airflow` uses it to report the parsed DAGs;
tests that run a real Airflow do both. It speaks to an Airflow that runs the simple auth
manager with every user an admin (the local one, orchestrate.local_airflow): there, GET /auth/token
hands out a token without a password. For an Airflow with real users, get the token from
POST /auth/token with a username and password instead.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

FINISHED = frozenset({"success", "failed"})
POLL_INTERVAL = 0.5
T = TypeVar("T")


def poll(condition: Callable[[], T], timeout: float, what: str, check: Callable[[], None] | None = None) -> T:
    """Call `condition` until it returns something truthy and return that; TimeoutError after `timeout` s.

    `check` runs before each attempt and may raise to stop early (a process that died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def _q(run_id: str) -> str:
    """A run id as one path segment: Airflow's default ones hold ':' and '+'."""
    return urllib.parse.quote(run_id, safe="")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class TaskTry:
    """One try of one task instance, as Airflow's REST API reports it."""

    task_id: str
    try_number: int
    state: str | None
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None = None  # the machine that ran it

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> TaskTry:
        return cls(
            task_id=body["task_id"],
            try_number=body["try_number"],
            state=body["state"],
            start_date=_parse_time(body["start_date"]),
            end_date=_parse_time(body["end_date"]),
            hostname=body.get("hostname") or None,
        )


class AirflowApi:
    """Airflow's REST API (`/api/v2`) at `url`, as an admin."""

    def __init__(self, url: str, token: str, timeout: float = 30) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    @classmethod
    def connect(cls, url: str) -> AirflowApi:
        """Log in to an Airflow whose users are all admins (no password needed)."""
        token = httpx.get(f"{url}/auth/token", timeout=10).raise_for_status().json()["access_token"]
        return cls(url, token)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; any status but 2xx fails with the response's body, which says why."""
        response = self.http.request(method, path, **kwargs)
        if not response.is_success:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    # --- DAGs -------------------------------------------------------------------------------

    def dag_files(self) -> dict[str, str]:
        """Each parsed DAG file's name -> the dag_id of a DAG in it."""
        dags = self.call("GET", "/api/v2/dags", params={"limit": 1000})["dags"]
        return {Path(d["relative_fileloc"] or d["fileloc"]).name: d["dag_id"] for d in dags}

    def import_errors(self) -> dict[str, str]:
        """Each DAG file that failed to import -> Airflow's traceback."""
        errors = self.call("GET", "/api/v2/importErrors", params={"limit": 1000})["import_errors"]
        return {Path(e["filename"]).name: e["stack_trace"] for e in errors}

    def wait_until_parsed(
        self, file_names: set[str], timeout: float, check: Callable[[], None] | None = None
    ) -> dict[str, str]:
        """Wait until each DAG file is parsed: a DAG of it is known, or its import error is.

        Return the import errors (file name -> traceback), empty when every file imported.
        """

        def parsed() -> bool:
            return file_names <= set(self.dag_files()) | set(self.import_errors())

        poll(parsed, timeout, f"the DAG processor to parse {sorted(file_names)}", check=check)
        return self.import_errors()

    # --- runs -------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Unpause `dag_id` (a DAG may start paused) and start a run of it; return the run's id."""
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        # A run id without ':' or '+' (unlike Airflow's default) is a plain file name.
        run_id = run_id or f"manual__{uuid.uuid4().hex[:12]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}")["state"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 300, check: Callable[[], None] | None = None) -> str:
        """Wait for the run to finish; return its final state (`success` or `failed`)."""

        def final_state() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in FINISHED else None

        try:
            return poll(final_state, timeout, f"DAG run {dag_id} {run_id} to finish", check=check)
        except TimeoutError as error:
            states = {t.task_id: (t.state, t.try_number) for t in self.task_instances(dag_id, run_id).values()}
            raise TimeoutError(f"{error}; its tasks (state, try): {states}") from error

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, TaskTry]:
        """Each task of the run, by task_id, as it is now (its latest try)."""
        body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")
        return {ti["task_id"]: TaskTry.from_api(ti) for ti in body["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> dict[int, TaskTry]:
        """Every try of one task instance, by try number (the latest one included)."""
        body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/tries")
        return {t["try_number"]: TaskTry.from_api(t) for t in body["task_instances"]}
