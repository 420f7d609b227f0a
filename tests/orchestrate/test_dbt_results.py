import json
import logging
from importlib.metadata import version
from pathlib import Path

import pytest

from orchestrate.dbt_results import (
    DUCKDB_LOCKED_HINT,
    NodeResult,
    checked_node_results,
    parse_is_for,
    plan_lines,
    report_lines,
    summary,
    unfinished,
)

INSTALLED = version("dbt-core")


def run_results(*results, dbt_version=INSTALLED):
    return json.dumps(
        {
            "metadata": {"dbt_version": dbt_version},
            "results": [
                {"unique_id": uid, "status": status, "execution_time": seconds, "message": message}
                for uid, status, seconds, message in results
            ],
        }
    )


def test_results_from_the_installed_dbt_are_read():
    results = checked_node_results(run_results(("model.shop.orders", "error", 1.5, "boom")))

    assert results == [NodeResult("model.shop.orders", "error", 1.5, "boom")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "not a readable run_results.json"),
        ('{"metadata": {}, "resu', "not a readable run_results.json"),
        ("[]", "not a readable run_results.json"),
        ('{"metadata": {}}', "not a readable run_results.json"),
        (run_results(("model.a", "error", 1, None), dbt_version="1.5.2"), "written by dbt 1.5.2"),
    ],
)
def test_results_a_retry_cannot_trust_are_refused_with_the_reason(content, reason):
    with pytest.raises(ValueError, match=reason):
        checked_node_results(content)


def test_unfinished_nodes_are_errors_failures_and_skips():
    results = [
        NodeResult("model.a", "error", 1, None),
        NodeResult("test.b", "fail", 1, None),
        NodeResult("model.c", "skipped", 0, None),
        NodeResult("model.d", "success", 1, None),
        NodeResult("test.e", "pass", 1, None),
        NodeResult("test.f", "warn", 1, None),
    ]

    assert [r.unique_id for r in unfinished(results)] == ["model.a", "test.b", "model.c"]


def test_summary_counts_lists_failures_and_the_slowest():
    results = [NodeResult(f"model.m{i}", "success", float(i), None) for i in range(7)]
    results.append(NodeResult("model.bad", "error", 0.5, "x" * 1000))

    report = summary(results, try_number=1)

    assert report["retry"] is False
    assert report["nodes"] == 8
    assert report["counts"] == {"error": 1, "success": 7}
    assert report["failed"] == [{"unique_id": "model.bad", "status": "error", "message": "x" * 300}]
    assert [n["unique_id"] for n in report["slowest"]] == ["model.m6", "model.m5", "model.m4", "model.m3", "model.m2"]
    assert json.loads(json.dumps(report)) == report


def test_summary_of_a_retry_names_what_it_left_behind():
    previous = [NodeResult("test.t", "fail", 1, None), NodeResult("model.c", "skipped", 0, None)]
    retry = [NodeResult("test.t", "pass", 1, None)]

    assert summary(retry, try_number=2, previous=previous)["not_rerun"] == ["model.c"]


def test_a_retry_after_full_success_has_nothing_to_do():
    previous = [NodeResult("model.a", "success", 1, None)]

    report = summary([], try_number=2, previous=previous)

    assert (report["retry"], report["nodes"], report["not_rerun"]) == (True, 0, [])


def test_a_locked_duckdb_file_found_in_dbts_log_is_explained():
    dbt_log = 'IO Error: Could not set lock on file "/data/warehouse.duckdb": Conflicting lock is held in python3\n'

    report = summary([], try_number=1, dbt_log=dbt_log)

    assert report["hint"] == DUCKDB_LOCKED_HINT
    assert "one writer per file" in report["hint"]
    assert "own files" in report["hint"]
    assert (logging.ERROR, DUCKDB_LOCKED_HINT) in report_lines(report)


def test_the_plan_of_a_retry_names_what_is_left_to_do():
    previous = [NodeResult(f"model.m{i}", "skipped", 0, None) for i in range(25)] + [
        NodeResult("model.ok", "success", 1, None)
    ]

    first, todo = plan_lines(2, previous)

    assert first == "Try 2 is a retry. The previous try ended {'skipped': 25, 'success': 1}."
    assert todo.startswith("25 nodes did not succeed and are to be re-run: model.m0, model.m1")
    assert todo.endswith("model.m19 and 5 more")
    assert plan_lines(1, None) == ["Try 1: no earlier results to retry from; running the full command"]


def test_a_retry_that_left_nodes_behind_warns_and_names_the_fix():
    previous = [NodeResult("test.t", "fail", 1, None), NodeResult("model.c", "skipped", 0, None)]

    lines = report_lines(summary([], try_number=2, previous=previous))

    warnings = [line for level, line in lines if level == logging.WARNING]
    assert len(warnings) == 1
    assert "model.c, test.t" in warnings[0]
    assert "retry_command()" in warnings[0]


def test_a_partial_parse_is_recognised_by_the_folder_it_was_made_in():
    import msgpack

    made_in = msgpack.packb({"files": {"a": {"path": {"project_root": "/tmp/datacoves_dbt/t-0/project"}}}})

    assert parse_is_for(made_in, Path("/tmp/datacoves_dbt/t-0/project"))
    assert not parse_is_for(made_in, Path("/tmp/datacoves_dbt/t-1/project"))
    assert not parse_is_for(made_in, Path("/tmp/datacoves_dbt/t-0/proj"))
