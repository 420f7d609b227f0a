"""The command for a retry: what a first-try dbt command left to do, selected from its results.

`retry_command()` is what DAG authors call, through `orchestrate.utils.datacoves_utils`.
"""

from __future__ import annotations

import shlex

# What a retry must re-run, in dbt's selector syntax (dbt-core 1.11 semantics):
#   result:error+     models that errored, and everything downstream of them;
#   1+result:fail     data tests that failed, with the models they test (their direct parents),
#                     since a failed test means those models' rows were wrong and get rebuilt;
#   result:skipped+   nodes skipped because something upstream failed, and their descendants.
# `result:error+` alone selects nothing after a failing test (the test's status is `fail`, the
# tested model's is `success`), so a retry with it "succeeds" while skipped tables stay unbuilt.
RETRY_SELECTORS = ("result:error+", "1+result:fail", "result:skipped+")
SELECT_FLAGS = ("-s", "--select", "-m", "--models")
RETRYABLE_VERBS = ("build", "run", "test", "seed", "snapshot")


def retry_command(full_command: str) -> str:
    """Turn a first-try dbt command into the command for a retry (`--state logs`).

    The retry keeps the verb and every flag (`--exclude`, `--vars`, `--full-refresh`, ...) and
    selects, within the original selection only, the failed nodes and what they left unbuilt:
    each retry selector is intersected with each original selector, e.g.

        dbt build -s model_a+ --full-refresh
        -> dbt build -s result:error+,model_a+ 1+result:fail,model_a+ result:skipped+,model_a+
           --full-refresh --state logs
    """
    words = _dbt_words(full_command)
    selection, rest = _split_selection(words[2:])
    if not selection:
        raise ValueError(
            f"retry_command needs a selection to stay inside, and {full_command!r} has none: "
            'add one, e.g. "dbt build -s my_model+" (or -s "*" for the whole project)'
        )
    if "--state" in rest or any(word.startswith("--state=") for word in rest):
        raise ValueError(
            f"{full_command!r} already sets --state; retry_command sets --state logs itself, "
            "so pass the first-try command without it"
        )
    retry_selection = [f"{retry},{original}" for retry in RETRY_SELECTORS for original in selection]
    return shlex.join([*words[:2], "-s", *retry_selection, *rest, "--state", "logs"])


def _dbt_words(command: str) -> list[str]:
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f'retry_command needs a dbt command, e.g. "dbt build -s my_model+"; got {command!r}')
    words = shlex.split(command)
    if words[0] != "dbt" or len(words) < 2 or words[1] not in RETRYABLE_VERBS:
        raise ValueError(
            f"retry_command needs a dbt {'/'.join(RETRYABLE_VERBS)} command, e.g. "
            f'"dbt build -s my_model+"; got {command!r}'
        )
    if "--selector" in words or any(word.startswith("--selector=") for word in words):
        raise ValueError("retry_command cannot intersect a YAML --selector; spell the selection with -s")
    return words


def _split_selection(args: list[str]) -> tuple[list[str], list[str]]:
    """Separate the selection (`-s a b --select c`, `--select=d`) from every other argument."""
    selection: list[str] = []
    rest: list[str] = []
    taking = False
    for word in args:
        if word in SELECT_FLAGS:
            taking = True
        elif word.startswith(tuple(f"{flag}=" for flag in SELECT_FLAGS if flag.startswith("--"))):
            selection.extend(word.split("=", 1)[1].split())
            taking = False
        elif taking and not word.startswith("-"):
            selection.extend(word.split())
        else:
            taking = False
            rest.append(word)
    return selection, rest
