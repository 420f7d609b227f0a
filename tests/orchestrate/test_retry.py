"""retry_command() as text; tests/integration/test_retry_after_a_failed_test.py runs it with dbt."""

import shlex

import pytest

from orchestrate.retry import RETRY_SELECTORS, retry_command


def selection(command: str) -> list[str]:
    words = shlex.split(command)
    start = words.index("-s") + 1
    end = next((i for i in range(start, len(words)) if words[i].startswith("-")), len(words))
    return words[start:end]


def test_retry_selects_each_retry_selector_within_the_original_selection():
    command = retry_command("dbt build -s model_a+")

    assert selection(command) == [f"{retry},model_a+" for retry in RETRY_SELECTORS]
    assert command.startswith("dbt build -s ")
    assert command.endswith(" --state logs")


def test_several_selectors_are_each_kept():
    chosen = selection(retry_command("dbt build -s model_a+ +model_b tag:nightly"))

    assert chosen == [f"{r},{o}" for r in RETRY_SELECTORS for o in ("model_a+", "+model_b", "tag:nightly")]


@pytest.mark.parametrize(
    "command",
    [
        "dbt build --select model_a+ model_b",
        "dbt build -s model_a+ -s model_b",
        "dbt build --select=model_a+ -m model_b",
        "dbt build -s 'model_a+ model_b'",
    ],
)
def test_every_spelling_of_the_selection_is_understood(command):
    chosen = selection(retry_command(command))

    assert chosen == [f"{r},{o}" for r in RETRY_SELECTORS for o in ("model_a+", "model_b")]


def test_an_intersection_in_the_original_stays_an_intersection():
    assert selection(retry_command("dbt build -s tag:nightly,path:marts")) == [
        f"{retry},tag:nightly,path:marts" for retry in RETRY_SELECTORS
    ]


@pytest.mark.parametrize(
    "flags",
    [
        ["--exclude", "model_c", "stg_d"],
        ["--vars", "{run_date: '2026-01-01', full: true}"],
        ["--full-refresh"],
        ["--target", "prod", "--threads", "8"],
        ["--fail-fast"],
    ],
)
def test_other_flags_survive_in_order(flags):
    command = retry_command(shlex.join(["dbt", "build", "-s", "model_a+", *flags]))

    words = shlex.split(command)
    assert words[words.index(flags[0]) : words.index(flags[0]) + len(flags)] == flags
    assert words[-2:] == ["--state", "logs"]


@pytest.mark.parametrize("verb", ["build", "run", "test", "seed", "snapshot"])
def test_the_verb_is_kept(verb):
    assert shlex.split(retry_command(f"dbt {verb} -s model_a"))[:2] == ["dbt", verb]


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("", "needs a dbt command"),
        ("   ", "needs a dbt command"),
        (None, "needs a dbt command"),
        ("ls -la", "needs a dbt build/run/test/seed/snapshot command"),
        ("dbt", "needs a dbt build/run/test/seed/snapshot command"),
        ("dbt deps", "needs a dbt build/run/test/seed/snapshot command"),
        ("dbt build", "needs a selection"),
        ("dbt build --exclude model_a", "needs a selection"),
        ("dbt build -s model_a --state prod_artifacts", "already sets --state"),
        ("dbt build --selector nightly", "YAML --selector"),
    ],
)
def test_bad_input_is_named(command, problem):
    with pytest.raises(ValueError, match=problem):
        retry_command(command)
