"""An invalid provider dict breaks `import airflow` for everyone: check it like Airflow does."""

import json
import re
import tomllib
from importlib import resources
from importlib.metadata import entry_points

import jsonschema
import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.get_provider_info import get_provider_info


def test_provider_info_matches_airflows_schema():
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())

    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_normalised_distribution_name():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]

    assert get_provider_info()["package-name"] == re.sub(r"[-_.]+", "-", project["name"]).lower()


def test_entry_point_is_installed():
    (entry_point,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("orchestrate.")]

    assert entry_point.load() is get_provider_info


def test_both_decorators_resolve_from_both_imports():
    from airflow.sdk import task as sdk_task

    with pytest.warns(Warning, match="airflow.decorators"):  # the spec's import, still working
        from airflow.decorators import task as documented_task

    from orchestrate.decorators.datacoves_bash import datacoves_bash_task
    from orchestrate.decorators.datacoves_dbt import datacoves_dbt_task

    assert sdk_task.datacoves_dbt is documented_task.datacoves_dbt is datacoves_dbt_task
    assert sdk_task.datacoves_bash is documented_task.datacoves_bash is datacoves_bash_task
