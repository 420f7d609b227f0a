"""Helpers DAGs import: the team's default_args, an environment-aware schedule, the retry command.

The names and meanings follow Datacoves' `orchestrate/utils/datacoves_utils.py`, so DAGs written for
Datacoves run here unchanged: `set_default_args`, `set_schedule`, `is_team_airflow`,
`handle_error` and `connection_to_env_vars`. Their platform-only helpers (the Airflow-database
sync, dlt's environment) are not here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from orchestrate import config
from orchestrate.retry import RETRY_SELECTORS, retry_command

__all__ = [
    "RETRY_SELECTORS",
    "connection_to_env_vars",
    "handle_error",
    "is_team_airflow",
    "retry_command",
    "set_default_args",
    "set_schedule",
]

log = logging.getLogger(__name__)

CONNECTION_ID = re.compile(r"[\w.-]+")
# Airflow's schedule presets (airflow.sdk: `@once`, `@continuous` and its CRON_PRESETS).
SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def is_team_airflow() -> bool:
    """True on a shared (team) Airflow, where `DATACOVES__AIRFLOW_TYPE` is `team_airflow`."""
    return config.is_team_airflow()


def handle_error(context: dict[str, Any]) -> None:
    """An on_failure_callback: log which task failed, with what error, on which try of which run."""
    ti = context.get("task_instance") or context.get("ti")
    log.error(
        "Task %s.%s failed on try %s of run %s (logical date %s): %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        getattr(ti, "run_id", "?"),
        context.get("logical_date"),
        context.get("exception"),
    )


def failure_callbacks(owner_email: str) -> list[Callable[[dict[str, Any]], None]]:
    """Log every failure; on the production Airflow also mail the owner.

    Airflow 3.3 deprecates `email_on_failure` in favour of notifiers, so mail goes through
    SmtpNotifier (connection `smtp_default`). Local and development Airflows never send mail.
    """
    if not config.is_production():
        return [handle_error]
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return [handle_error, SmtpNotifier(to=owner_email)]


# Production waits for what a retry can fix (a lock, a warehouse restart); elsewhere a person is
# watching, so the retry comes within seconds.
PRODUCTION_RETRY_DELAY = timedelta(minutes=5)
LOCAL_RETRY_DELAY = timedelta(seconds=2)


def set_default_args(owner: str, owner_email: str, **overrides: Any) -> dict[str, Any]:
    """Return the team's default_args; keyword arguments override any of them.

    3 retries. On production the first comes after 5 minutes and each wait doubles
    (`retry_exponential_backoff` is a multiplier in Airflow 3.3, and Airflow adds up to as much
    again as jitter: 5 to 10, 10 to 20, 20 to 40 minutes; `True` would mean no backoff at all).
    Elsewhere (a laptop, a development Airflow) the waits are 2 seconds, doubling likewise.
    """
    if not owner or not owner_email:
        raise ValueError(
            "set_default_args needs owner and owner_email, e.g. "
            'set_default_args(owner="Data Team", owner_email="data@example.com")'
        )
    default_args: dict[str, Any] = {
        "owner": owner,
        "start_date": datetime(2025, 1, 1, tzinfo=UTC),
        "retries": 3,
        "retry_delay": PRODUCTION_RETRY_DELAY if config.is_production() else LOCAL_RETRY_DELAY,
        "retry_exponential_backoff": 2.0,
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": failure_callbacks(owner_email),
    }
    default_args.update(overrides)
    return default_args


def set_schedule(schedule: Any) -> Any:
    """Return `schedule` on the production Airflow and None elsewhere, so only production schedules.

    A string is checked in every environment, so a typo fails at parse time on a laptop instead of
    on the first production deploy: it must be an Airflow preset (`@daily`, `@once`, ...) or a cron
    expression of five fields. None and Airflow's other schedules (a timedelta, a timetable,
    assets) pass as they are.
    """
    cron = isinstance(schedule, str) and schedule not in SCHEDULE_PRESETS
    if cron and (len(schedule.split()) != 5 or not croniter.is_valid(schedule)):
        raise ValueError(
            f"set_schedule got an invalid schedule {schedule!r}: use five cron fields, minute hour "
            'day-of-month month day-of-week, e.g. "0 0 1 */12 *", an Airflow preset such as '
            '"@daily", or None'
        )
    return schedule if config.is_production() else None


def connection_to_env_vars(connection_id: str, prefix: str | None = None) -> dict[str, str]:
    """Environment variables for a task's `env=`, from an Airflow connection, as Datacoves names them.

    `<prefix>ACCOUNT`, `USER`, `PASSWORD` or `PRIVATE_KEY` (its body, without the BEGIN and END
    lines), `DATABASE`, `WAREHOUSE`, `ROLE`; the prefix defaults to `DATACOVES__<CONNECTION_ID>__`.
    The values are templates that Airflow fills in when the task runs: the connection is not read
    while the DAG file is parsed, and Airflow masks its secrets in task logs and rendered fields.
    A field the connection does not have comes out empty.
    """
    if not isinstance(connection_id, str) or not CONNECTION_ID.fullmatch(connection_id):
        raise ValueError(
            f"connection_to_env_vars needs an Airflow connection id (letters, digits, _ . -), e.g. "
            f"'warehouse'; got {connection_id!r}"
        )
    prefix = prefix if prefix is not None else f"DATACOVES__{connection_id.upper()}__"
    conn = f"conn[{connection_id!r}]"
    extra = f"{conn}.extra_dejson"
    private_key = f"{extra}.get('private_key_content') or ''"
    return {
        f"{prefix}ACCOUNT": f"{{{{ {extra}.get('account') or '' }}}}",
        f"{prefix}USER": f"{{{{ {conn}.login or '' }}}}",
        f"{prefix}PRIVATE_KEY": f"{{{{ ({private_key}).strip().splitlines()[1:-1] | join('') }}}}",
        f"{prefix}PASSWORD": f"{{{{ '' if {extra}.get('private_key_content') else ({conn}.password or '') }}}}",
        f"{prefix}DATABASE": f"{{{{ {extra}.get('database') or '' }}}}",
        f"{prefix}WAREHOUSE": f"{{{{ {extra}.get('warehouse') or '' }}}}",
        f"{prefix}ROLE": f"{{{{ {extra}.get('role') or '' }}}}",
    }
