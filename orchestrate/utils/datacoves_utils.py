"""Helpers every DAG imports: the team's default_args, an environment-aware schedule and the retry command."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from orchestrate import config
from orchestrate.retry import RETRY_SELECTORS, retry_command

__all__ = ["RETRY_SELECTORS", "log_failure", "retry_command", "set_default_args", "set_schedule"]

log = logging.getLogger(__name__)


def log_failure(context: dict[str, Any]) -> None:
    """Log which task failed, on which try, so the failure is easy to find in the logs."""
    ti = context.get("task_instance") or context.get("ti")
    log.error(
        "Task %s.%s failed on try %s of run %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        getattr(ti, "run_id", "?"),
    )


def failure_callbacks(owner_email: str) -> list[Callable[[dict[str, Any]], None]]:
    """Log every failure; on the production Airflow also mail the owner.

    Airflow 3.3 deprecates `email_on_failure` in favour of notifiers, so mail goes through
    SmtpNotifier (connection `smtp_default`). Local and development Airflows never send mail.
    """
    if not config.is_production():
        return [log_failure]
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return [log_failure, SmtpNotifier(to=owner_email)]


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


def set_schedule(cron: str) -> str | None:
    """Return `cron` on the production Airflow and None elsewhere, so only production schedules.

    The expression is checked in every environment, so a typo fails at parse time on a laptop
    instead of on the first production deploy.
    """
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ValueError(
            f"set_schedule got an invalid cron expression {cron!r}: use five fields, "
            'minute hour day-of-month month day-of-week, e.g. "0 0 1 */12 *"'
        )
    return cron if config.is_production() else None
