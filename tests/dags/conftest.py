"""Every file in dags/ is held to these checks the moment it is added."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from orchestrate.config import REPO_ROOT

DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))

# Parses each DAG file in a fresh interpreter where dbt and DuckDB cannot be imported,
# no process can be started and the warehouse is out of reach: a DAG file that calls dbt or the
# database while being parsed fails here.
ISOLATED_PARSE = textwrap.dedent(
    """
    import builtins, json, subprocess, sys
    from importlib.abc import MetaPathFinder

    class Forbid(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"dbt", "duckdb"}:
                raise ImportError(f"{name} imported while parsing a DAG file")

    def no_process(*args, **kwargs):
        raise RuntimeError(f"a process was started while parsing a DAG file: {args!r}")

    sys.meta_path.insert(0, Forbid())
    from airflow.dag_processing.dagbag import DagBag

    # After Airflow's own import, which may start a process (trio, when installed, runs ldconfig).
    subprocess.Popen = no_process

    errors = {}
    for path in sys.argv[1:]:
        bag = DagBag(dag_folder=path, safe_mode=False)
        errors[path] = [str(e) for e in bag.import_errors.values()]
    print(json.dumps(errors))
    """
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dag_file" in metafunc.fixturenames:
        metafunc.parametrize("dag_file", DAG_FILES, ids=[path.name for path in DAG_FILES])


@pytest.fixture(scope="session")
def isolated_parse_errors() -> dict[str, list[str]]:
    env = {
        **os.environ,
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": "/nonexistent/warehouse.duckdb"}),
    }
    out = subprocess.run(
        [sys.executable, "-c", ISOLATED_PARSE, *map(str, DAG_FILES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=REPO_ROOT / "dags", safe_mode=False)
