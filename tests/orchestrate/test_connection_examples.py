"""The warehouse connections shown in README.md ("Use your warehouse") and orchestrate/local_env.py
are ones a user can paste: each names the DAGs' connection, and Cosmos makes a dbt profile from it
without its password in the file."""

import json
import re

import pytest
import yaml

from orchestrate.config import CONNECTION_ID, REPO_ROOT
from orchestrate.profiles import render_profile

EXPORT = re.compile(r"export (?P<name>AIRFLOW_CONN_\w+)='(?P<connection>\{.*?\})'", re.DOTALL)
# Postgres' connection `schema` is the database: dbt's schema comes from the task (README says so).
OVERRIDES = {"postgres": {"schema": "marts"}}


def examples(text: str) -> list[tuple[str, dict]]:
    return [(m["name"], json.loads(m["connection"])) for m in EXPORT.finditer(text)]


README_EXAMPLES = examples((REPO_ROOT / "README.md").read_text())
# In local_env.py they are comment lines: without the comment signs they read as in the README.
LOCAL_ENV_EXAMPLES = examples(re.sub(r"(?m)^#  ?", "", (REPO_ROOT / "orchestrate" / "local_env.py").read_text()))


def test_local_env_shows_the_readmes_examples():
    assert README_EXAMPLES
    assert LOCAL_ENV_EXAMPLES == README_EXAMPLES


@pytest.mark.parametrize(("name", "connection"), README_EXAMPLES, ids=[c["conn_type"] for _, c in README_EXAMPLES])
def test_each_example_is_the_dags_connection_and_makes_a_dbt_profile_without_its_secret(name, connection, monkeypatch):
    monkeypatch.setenv(name, json.dumps(connection))

    profile = render_profile(CONNECTION_ID, "project", "default", OVERRIDES.get(connection["conn_type"]))

    assert name == f"AIRFLOW_CONN_{CONNECTION_ID.upper()}"
    output = yaml.safe_load(profile.contents)["project"]["outputs"]["default"]
    assert output["type"] in {"postgres", "snowflake", "bigquery"}
    if "password" in connection:
        assert connection["password"] not in profile.contents
        assert connection["password"] in profile.env.values()
