from datetime import UTC, datetime, timedelta

import pytest

from orchestrate import retry
from orchestrate.utils import datacoves_utils
from orchestrate.utils.datacoves_utils import (
    connection_to_env_vars,
    handle_error,
    is_team_airflow,
    set_default_args,
    set_schedule,
)

PRODUCTION = {"DATACOVES__AIRFLOW_TYPE": "team_airflow", "DATACOVES__ENVIRONMENT_SLUG": "prd001"}


@pytest.fixture
def production(monkeypatch):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)


def test_default_args_hold_the_team_defaults():
    args = set_default_args(owner="Data Team", owner_email="data@example.com")

    assert args["owner"] == "Data Team"
    assert args["start_date"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert args["retries"] == 3
    assert args["retry_delay"] == timedelta(seconds=2)  # a retry within seconds, off production
    assert args["retry_exponential_backoff"] == 2.0
    assert args["execution_timeout"] == timedelta(hours=2)
    assert args["on_failure_callback"] == [handle_error]


@pytest.mark.usefixtures("production")
def test_production_waits_five_minutes_before_a_retry():
    assert set_default_args(owner="a", owner_email="a@example.com")["retry_delay"] == timedelta(minutes=5)


@pytest.mark.usefixtures("production")
def test_production_also_mails_the_owner_on_failure():
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    callbacks = set_default_args(owner="a", owner_email="a@example.com")["on_failure_callback"]

    assert callbacks[0] is handle_error
    assert isinstance(callbacks[1], SmtpNotifier)
    assert callbacks[1].to == "a@example.com"


def test_default_args_take_overrides():
    args = set_default_args(owner="a", owner_email="a@example.com", retries=1, pool="dbt")

    assert args["retries"] == 1
    assert args["pool"] == "dbt"


@pytest.mark.parametrize(("owner", "email"), [("", "a@example.com"), ("a", "")])
def test_default_args_need_an_owner_and_email(owner, email):
    with pytest.raises(ValueError, match="owner and owner_email"):
        set_default_args(owner=owner, owner_email=email)


def test_schedule_is_none_outside_production():
    assert set_schedule("0 0 1 */12 *") is None


@pytest.mark.usefixtures("production")
def test_schedule_is_the_cron_on_production():
    assert set_schedule("0 0 1 */12 *") == "0 0 1 */12 *"


@pytest.mark.usefixtures("production")
def test_development_environment_of_a_shared_airflow_has_no_schedule(monkeypatch):
    monkeypatch.setenv("DATACOVES__ENVIRONMENT_SLUG", "development")

    assert set_schedule("0 0 1 */12 *") is None


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize(
    "schedule", ["@daily", "@once", "@continuous", "@hourly", "*/5 * * * 1-5", None, timedelta(hours=6)]
)
def test_presets_none_and_other_schedules_are_what_airflow_takes(schedule):
    assert set_schedule(schedule) == schedule


@pytest.mark.parametrize("environment", [{}, PRODUCTION])
@pytest.mark.parametrize("schedule", ["not a cron", "", "0 0 1 */12", "61 0 * * *", "0 0 0 1 */12 *", "@sometimes"])
def test_invalid_schedules_fail_in_every_environment(monkeypatch, environment, schedule):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match="invalid schedule .* five cron fields"):
        set_schedule(schedule)


@pytest.mark.parametrize(("airflow_type", "expected"), [("team_airflow", True), ("my_airflow", False), (None, False)])
def test_a_team_airflow_is_told_by_datacoves_airflow_type(monkeypatch, airflow_type, expected):
    if airflow_type:
        monkeypatch.setenv("DATACOVES__AIRFLOW_TYPE", airflow_type)

    assert is_team_airflow() is expected


def test_handle_error_logs_the_task_try_and_error(caplog):
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="d", task_id="t", try_number=2, run_id="r")

    handle_error({"ti": ti, "exception": RuntimeError("boom"), "logical_date": None})

    assert "Task d.t failed on try 2 of run r (logical date None): boom" in caplog.text


def test_retry_command_is_imported_from_datacoves_utils_as_documented():
    assert datacoves_utils.retry_command is retry.retry_command


def test_connection_env_vars_are_templates_read_when_the_task_runs():
    env = connection_to_env_vars("main_key_pair")

    assert sorted(env) == [
        f"DATACOVES__MAIN_KEY_PAIR__{name}"
        for name in ("ACCOUNT", "DATABASE", "PASSWORD", "PRIVATE_KEY", "ROLE", "USER", "WAREHOUSE")
    ]
    assert all(value.startswith("{{ ") and "conn['main_key_pair']" in value for value in env.values())
    assert sorted(connection_to_env_vars("x", prefix="SNOWFLAKE_"))[0] == "SNOWFLAKE_ACCOUNT"
