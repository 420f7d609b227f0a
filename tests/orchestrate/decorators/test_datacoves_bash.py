"""`@task.datacoves_bash`: the function returns a command, run from the repository, as on Datacoves.

Tries run through `execute()` with a plain-dict context (see tests/orchestrate/conftest.py).
"""

import pytest

from orchestrate import config
from orchestrate.decorators.datacoves_bash import _DatacovesBashDecoratedOperator
from orchestrate.errors import CommandError


def bash_task(function, **kwargs):
    return _DatacovesBashDecoratedOperator(task_id="run_script", python_callable=function, **kwargs)


def test_the_command_runs_in_the_repository_and_its_last_line_is_the_xcom(run_try):
    assert run_try(bash_task(lambda: "pwd")) == str(config.repo_path())


def test_cwd_is_taken_relative_to_the_repository(run_try):
    assert run_try(bash_task(lambda: "pwd", cwd="orchestrate")) == str(config.repo_path() / "orchestrate")


def test_env_is_templated_and_a_templated_command_value_is_one_word(run_try):
    task = bash_task(
        lambda: "printf '%s|%s' \"$GREETING\" {{ params.value }}", env={"GREETING": "{{ params.greeting }}"}
    )

    output = run_try(task, params={"greeting": "hello", "value": "a; echo pwned"})

    assert output == "hello|a; echo pwned"


@pytest.mark.parametrize("returned", [None, "", 42])
def test_the_function_must_return_a_command(run_try, returned):
    with pytest.raises(CommandError, match="a @task.datacoves_bash function must return the command"):
        run_try(bash_task(lambda: returned))
