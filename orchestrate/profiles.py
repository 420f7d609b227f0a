"""A dbt profile made from an Airflow connection, through Cosmos' profile mappings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrate.dbt_project import DbtProject
from orchestrate.errors import ProfileError


@dataclass(frozen=True)
class RenderedProfile:
    """profiles.yml text (no secrets in it) and the env vars that carry the secrets."""

    contents: str
    env: dict[str, str]


def profile_name(project_dir: Path) -> str:
    """The `profile:` that the project's dbt_project.yml asks for."""
    return DbtProject.load(project_dir).profile


def write_profile(
    connection_id: str | None, profile: str, target: str, overrides: dict[str, Any] | None, folder: Path
) -> dict[str, str]:
    """Write profiles.yml with `profile` into `folder`, a new private folder; return dbt's env.

    The file is mode 0600 in a 0700 folder. The env holds `DBT_PROFILES_DIR` and the secrets,
    for the dbt process only.
    """
    if not connection_id:
        raise ProfileError(
            "@task.datacoves_dbt needs connection_id=, the Airflow connection to make the "
            'dbt profile from, e.g. @task.datacoves_dbt(connection_id="warehouse")'
        )
    rendered = render_profile(connection_id, profile, target, overrides)
    folder.mkdir(mode=0o700)
    profiles_file = folder / "profiles.yml"
    profiles_file.touch(mode=0o600)
    profiles_file.write_text(rendered.contents)
    return {**rendered.env, "DBT_PROFILES_DIR": str(folder)}


def render_profile(
    connection_id: str, profile: str, target: str, overrides: dict[str, Any] | None = None
) -> RenderedProfile:
    """Render profiles.yml for `profile` with one output, `target`, from the Airflow connection.

    Secret fields (passwords, keys) stay out of the file: Cosmos writes them as
    `{{ env_var(...) }}` and returns their values in `env`, for the dbt process only.
    """
    from airflow.exceptions import AirflowNotFoundException
    from cosmos.profiles import get_automatic_profile_mapping, profile_mappings

    try:
        mapping = get_automatic_profile_mapping(connection_id, dict(overrides or {}))
    except AirflowNotFoundException as error:
        raise ProfileError(
            f"connection {connection_id!r} not found: set AIRFLOW_CONN_{connection_id.upper()} "
            "or create it in the Airflow UI (Admin > Connections)"
        ) from error
    except ValueError as error:
        raise ProfileError(_no_mapping_message(connection_id, profile_mappings)) from error
    return RenderedProfile(
        contents=mapping.get_profile_file_contents(profile_name=profile, target_name=target),
        env=dict(mapping.env_vars),
    )


def _no_mapping_message(connection_id: str, mappings: list[type]) -> str:
    from airflow.sdk import BaseHook

    conn_type = BaseHook.get_connection(connection_id).conn_type
    candidates = [m for m in mappings if m.airflow_connection_type == conn_type]
    if not candidates:
        supported = sorted({m.airflow_connection_type for m in mappings})
        return (
            f"connection {connection_id!r} has type {conn_type!r}, which has no dbt profile "
            f"mapping; use one of: {', '.join(supported)}"
        )
    needed = sorted(
        {
            f"{field} (the connection's {m.airflow_param_mapping.get(field, field)})"
            for m in candidates
            for field in m.required_fields
        }
    )
    return (
        f"connection {connection_id!r} ({conn_type}) lacks a field its dbt profile needs: "
        f"{', '.join(needed)}; set it on the connection or pass it in overrides="
    )
