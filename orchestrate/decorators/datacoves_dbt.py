"""`@task.datacoves_dbt`: the decorated function returns a dbt command; DatacovesDbtOperator runs it.

The function is called during the try, after the dbt API's download, so it can choose its
command from what an earlier try left: `expected_files` tells it which files arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from orchestrate.dbt_api import resolve_expected_files
from orchestrate.decorators.datacoves_bash import CommandDecoratedOperator
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator


class _DatacovesDbtDecoratedOperator(CommandDecoratedOperator, DatacovesDbtOperator):
    """DatacovesDbtOperator whose command is what the decorated function returns."""

    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *DatacovesDbtOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **DatacovesDbtOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.datacoves_dbt"

    def execute(self, context: Context) -> dict[str, Any]:
        return DatacovesDbtOperator.execute(self, context)

    def dbt_command(self, context: Context, workdir: Path) -> str:
        """Call the function, with `expected_files` resolved; check and render what it returns."""
        op_kwargs = dict(self.op_kwargs)
        if "expected_files" in op_kwargs:
            # With the dbt API off nothing is downloaded, so the files are never there: [] keeps
            # the function on its first-try branch instead of a retry command with no state.
            op_kwargs["expected_files"] = resolve_expected_files(
                op_kwargs["expected_files"], workdir / "logs" if self.dbt_api_enabled else None
            )
            self.log.info("expected_files resolved to %s", op_kwargs["expected_files"])
        return self.command_from_function(context, op_kwargs)


def datacoves_dbt_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns a dbt command into a DatacovesDbtOperator task."""
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_DatacovesDbtDecoratedOperator,
        **kwargs,
    )
