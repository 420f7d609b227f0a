"""`DatacovesBashOperator`: a bash command run from the repository, with templates quoted for the shell.

As on Datacoves, the command runs in the repository's root, or in `cwd` taken relative to it, so a
DAG can run `python orchestrate/python_scripts/x.py`, and the Python environment Airflow runs in
comes first on PATH (Datacoves activates its virtualenv), even when `env` replaces the rest of
the environment. Airflow's BashOperator does the rest: live logs, `env` and `append_env`, exit
code 99 = skip, the last line of output as the XCom. DatacovesDbtOperator builds on it.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.bash import BashOperator

from orchestrate import config

if TYPE_CHECKING:
    from airflow.sdk import Context

# Prefixed to every command run with bash. A task process's stdin is its channel to Airflow's task
# supervisor, which waits for every holder of it to close it before it ends the try: a process left
# running by a killed try would hold the retry back until it finished. Commands read no input.
NO_STDIN = "exec </dev/null\n"


class DatacovesBashOperator(BashOperator):
    """Runs `bash_command` in the repository (or `cwd`, relative to it).

    :param bash_command: the command. Templated: every value a template puts into it is quoted
        for the shell, so a value from a run's conf cannot run commands of its own.
    :param cwd: where to run it, relative to the repository (`DATACOVES__REPO_PATH`); default: its root.
    """

    template_ext: Sequence[str] = ()  # the command is always inline: a name ending in .sh is not a file
    ui_color = "#ffe5d9"
    # Fields rendered by render_template_fields in a way of their own, after the others.
    rendered_apart: Sequence[str] = ("bash_command",)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render the templated fields, the command with every templated value quoted for the shell."""
        others = [name for name in self.template_fields if name not in self.rendered_apart]
        self._do_render_template_fields(self, others, context, jinja_env or self.get_template_env(), set())
        if isinstance(self.bash_command, str):
            self.bash_command = self.render_command(self.bash_command, context)

    def render_command(self, command: str, context: Context) -> str:
        """Render the command's Jinja once, quoting every value a template puts into it for the shell.

        `{{ dag_run.conf["select"] }}` holding `orders; rm -rf ~` becomes the single word
        `'orders; rm -rf ~'`; the shell never runs `rm`. A value holding `{{ ... }}` stays literal text.
        """
        quoting = self.get_template_env(dag=self.dag if self.has_dag() else None).overlay(
            finalize=lambda value: shlex.quote(str(value))
        )
        return self.render_template(command, context, jinja_env=quoting)

    def execute(self, context: Context) -> Any:
        return self.run_in(config.repo_path() / (self.cwd or ""), self.bash_command, context)

    def get_env(self, context: Context) -> dict:
        """BashOperator's environment, with the bin/ of the Python environment Airflow runs in first on PATH."""
        env = super().get_env(context)
        env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")]))
        return env

    def run_in(self, folder: Path, command: str, context: Context) -> Any:
        """Run `command` with bash in `folder`, its stdin on /dev/null; BashOperator's outcome."""
        cwd = self.cwd
        self.cwd = str(folder)
        self.bash_command = NO_STDIN + command
        try:
            return BashOperator.execute(self, context)
        finally:
            self.bash_command = command  # as the UI shows it: the command, without the prefix
            self.cwd = cwd
