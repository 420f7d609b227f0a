"""`@task.datacoves_bash`: the decorated function returns a bash command; DatacovesBashOperator runs it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.bases.decorator import DecoratedOperator, determine_kwargs, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION
from airflow.sdk.definitions.context import context_merge

from orchestrate.errors import CommandError
from orchestrate.operators.datacoves_bash import DatacovesBashOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator


def checked_command(function: Callable, returned: object, decorator: str) -> str:
    """What `function` returned, if it is a command; a CommandError naming the fix if it is not."""
    if not isinstance(returned, str) or not returned.strip():
        raise CommandError(
            f"{function.__name__}() returned {returned!r}; a {decorator} function must return the command "
            'to run, e.g. return "dbt build -s my_model+"'
        )
    return returned


class CommandDecoratedOperator(DecoratedOperator):
    """A DecoratedOperator whose function returns the command that a DatacovesBashOperator runs.

    Mixed in before the operator: `class _Decorated(CommandDecoratedOperator, DatacovesBashOperator)`.
    """

    overwrite_rtif_after_execution: bool = True  # the UI shows the command the function returned

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("multiple_outputs", False):
            warnings.warn(
                f"{self.custom_operator_name} does not support multiple_outputs; it is ignored.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            bash_command=SET_DURING_EXECUTION,
            multiple_outputs=False,
            **kwargs,
        )

    def command_from_function(self, context: Context, op_kwargs: Mapping[str, Any]) -> str:
        """Call the function with `op_kwargs` and the context; check and render the command it returns."""
        context_merge(context, op_kwargs)
        returned = self.python_callable(*self.op_args, **determine_kwargs(self.python_callable, self.op_args, context))
        return self.render_command(checked_command(self.python_callable, returned, self.custom_operator_name), context)


class _DatacovesBashDecoratedOperator(CommandDecoratedOperator, DatacovesBashOperator):
    """DatacovesBashOperator whose command is what the decorated function returns."""

    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *DatacovesBashOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **DatacovesBashOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.datacoves_bash"

    def execute(self, context: Context) -> Any:
        self.bash_command = self.command_from_function(context, self.op_kwargs)
        return DatacovesBashOperator.execute(self, context)


def datacoves_bash_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns a bash command into a DatacovesBashOperator task."""
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_DatacovesBashDecoratedOperator,
        **kwargs,
    )
