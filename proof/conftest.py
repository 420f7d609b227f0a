"""What the folders of proof/ share: a failure report with a test Airflow's log tails, and the files
of the store's kill trials (test_store_kills.py, cluster/test_s3_store.py)."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest

# The fixtures of a test Airflow (scheduler/, cluster/); each one's value has a diagnostics().
AIRFLOW_FIXTURES = ("airflow_server", "airflow_cluster")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used a test Airflow gets the tails of its logs in its report."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    for name in AIRFLOW_FIXTURES:
        if report.failed and name in funcargs:
            report.sections.append(("Airflow logs (tails)", funcargs[name].diagnostics()))
    return report


@pytest.fixture(scope="module")
def versions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, set[bytes]]]:
    """Two complete versions (a/ and b/) of run_results.json and manifest.json, each padded with the
    test module's SIZE bytes: their folder, and each file name's complete contents."""
    source = tmp_path_factory.mktemp("versions")
    contents: dict[str, set[bytes]] = {}
    for version in ("a", "b"):
        (source / version).mkdir()
        for name in ("run_results.json", "manifest.json"):
            data = json.dumps({"v": version, "pad": version * request.module.SIZE}).encode()
            (source / version / name).write_bytes(data)
            contents.setdefault(name, set()).add(data)
    return source, contents
