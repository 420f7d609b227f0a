import json
from importlib.metadata import version

import pytest

from orchestrate.dbt_results import NodeResult, checked_node_results, summary, unfinished

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
