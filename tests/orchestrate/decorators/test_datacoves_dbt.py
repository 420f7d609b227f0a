"""`@task.datacoves_dbt`'s own part: `expected_files`, calling the function, checking what it returns.

Each try runs through the operator's `execute()` (see conftest.py); the functions return `true`,
a command that needs no dbt, unless dbt itself is the point. What the function returns when it is
not a command is in tests/orchestrate/test_bad_input.py.
"""

import pytest

from orchestrate.config import CONNECTION_ID
from orchestrate.decorators.datacoves_dbt import _DatacovesDbtDecoratedOperator

RESULTS = "run_results.json"


def recording_task(received: list, **kwargs):
    """A task whose function notes the `expected_files` it was given on each try."""

    def dbt_build(expected_files: list):
        received.append(expected_files)
        return "true"

    return _DatacovesDbtDecoratedOperator(
        task_id="dbt_build",
        python_callable=dbt_build,
        connection_id=CONNECTION_ID,
        op_kwargs={"expected_files": [RESULTS]},
        **kwargs,
    )


@pytest.fixture
def first_try_failed(run_results):
    return {RESULTS: run_results(("model.shop.orders", "error"))}


def test_a_retry_gets_the_expected_files_that_the_earlier_try_stored(run_try, earlier_try, first_try_failed):
    received = []
    for try_number in (1, 2):
        task = recording_task(received, dbt_api_enabled=True, download_run_results=True)
        if try_number == 2:
            earlier_try(task, 1, first_try_failed)
        run_try(task, try_number)

    assert received == [[], [RESULTS]]


def test_with_the_dbt_api_off_every_try_gets_no_expected_files(run_try, earlier_try, first_try_failed):
    received = []
    task = recording_task(received, dbt_api_enabled=False, download_run_results=True)
    earlier_try(task, 1, first_try_failed)

    run_try(task, try_number=2)

    assert received == [[]]


@pytest.mark.parametrize(
    "stored",
    [b"", b'{"metadata": {}, "results": [{"unique_id"', b'{"metadata": {"dbt_version": "1.5.0"}, "results": []}'],
    ids=["empty", "truncated", "other-dbt-version"],
)
def test_stored_results_a_retry_cannot_trust_give_no_expected_files_and_stay_stored(
    run_try, earlier_try, store, stored
):
    received = []
    task = recording_task(received, dbt_api_enabled=True, download_run_results=True)
    key = earlier_try(task, 1, {RESULTS: stored})

    run_try(task, try_number=2)

    assert received == [[]]
    assert store.read_bytes(key, 1, RESULTS) == stored


def test_the_function_gets_the_context_it_asks_for(run_try):
    seen = {}

    def dbt_build(ti, run_id):
        seen.update(try_number=ti.try_number, run_id=run_id)
        return "true"

    run_try(_DatacovesDbtDecoratedOperator(task_id="t", python_callable=dbt_build, connection_id=CONNECTION_ID), 3)

    assert seen == {"try_number": 3, "run_id": "manual__2026-01-01T00:00:00+00:00"}


def test_multiple_outputs_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="multiple_outputs"):
        task = _DatacovesDbtDecoratedOperator(task_id="t", python_callable=lambda: "true", multiple_outputs=True)

    assert task.multiple_outputs is False
