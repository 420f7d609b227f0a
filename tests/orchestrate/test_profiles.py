"""Profiles made by Cosmos' real profile mappings from connections set in the environment."""

import json
import stat

import pytest
import yaml

from orchestrate.profiles import ProfileError, profile_name, render_profile, write_profile

CANARY = "canary-password-5c2f"


@pytest.fixture
def connection(monkeypatch):
    def set_connection(conn_id, **fields):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))

    return set_connection


def test_duckdb_connection_becomes_a_duckdb_profile(connection):
    connection("duck", conn_type="duckdb", host="/data/warehouse.duckdb")

    profile = yaml.safe_load(render_profile("duck", "shop", "default", {"threads": 4}).contents)

    assert profile == {
        "shop": {
            "target": "default",
            "outputs": {"default": {"type": "duckdb", "path": "/data/warehouse.duckdb", "threads": 4}},
        }
    }


def test_unknown_connection_names_the_fix():
    with pytest.raises(ProfileError, match="connection 'nope' not found: set AIRFLOW_CONN_NOPE"):
        render_profile("nope", "shop", "default")


def test_connection_type_without_a_mapping_lists_the_supported_ones(connection):
    connection("ftp_server", conn_type="ftp", host="example.com")

    with pytest.raises(ProfileError, match="type 'ftp', which has no dbt profile mapping; use one of: .*duckdb"):
        render_profile("ftp_server", "shop", "default")


def test_connection_missing_a_required_field_names_it(connection):
    connection("duck", conn_type="duckdb")

    with pytest.raises(ProfileError, match=r"lacks a field .*path \(the connection's host\)"):
        render_profile("duck", "shop", "default")


def test_profile_name_comes_from_dbt_project_yml(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("name: shop\nprofile: shop_profile\n")

    assert profile_name(tmp_path) == "shop_profile"


def test_a_folder_without_dbt_project_yml_is_not_a_project(tmp_path):
    with pytest.raises(ProfileError, match="not a dbt project"):
        profile_name(tmp_path)


def test_a_project_without_a_profile_is_named(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")

    with pytest.raises(ProfileError, match="has no `profile:`"):
        profile_name(tmp_path)


def test_written_profile_is_private_and_its_secret_stays_in_the_env(connection, tmp_path):
    connection("pg", conn_type="postgres", host="db", login="dbt", password=CANARY, schema="public")
    (tmp_path / "dbt_project.yml").write_text("name: shop\nprofile: shop\n")

    env = write_profile("pg", tmp_path, "default", {"dbname": "analytics"}, tmp_path / "profiles")

    profiles = tmp_path / "profiles" / "profiles.yml"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    assert stat.S_IMODE(profiles.parent.stat().st_mode) == 0o700
    assert "dbname: analytics" in profiles.read_text()
    assert CANARY not in profiles.read_text()
    assert CANARY in env.values()
    assert env["DBT_PROFILES_DIR"] == str(profiles.parent)
