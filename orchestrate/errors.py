"""Errors of a dbt task that no retry can fix.

Each is an AirflowFailException: the task fails at once, without waiting out its retries (with
the default 3 retries and backoff, a certain failure would otherwise take about 35 minutes to
arrive). Messages name the problem and the fix.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class DbtTaskError(AirflowFailException):
    """The task's configuration or input is wrong: another try would fail the same way."""


class ProfileError(DbtTaskError):
    """The connection or the dbt project cannot produce a working dbt profile."""


class ArgumentError(DbtTaskError):
    """An argument of the task (expected_files, upload_tag, ...) cannot be used."""


class CommandError(DbtTaskError):
    """The command cannot run: the function returned none, dbt is missing, the project does not compile."""


class RetryLeftNodesBehind(DbtTaskError):
    """A retry's command did not select nodes that the previous try left unfinished."""
