"""What the folders of proof/ share: a failure report with a test Airflow's log tails."""

from __future__ import annotations

from collections.abc import Generator

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
