"""The test session's Airflow is its own: a developer's Airflow (`.local/`, `~/airflow`) is never touched."""

import os
import tempfile
from pathlib import Path


def test_airflow_reads_its_home_dags_and_database_from_the_sessions_folder():
    from airflow import settings

    session = Path(os.environ["AIRFLOW_HOME"]).parent

    assert session.name.startswith("dbt-retry-template-tests-")
    assert Path(settings.DAGS_FOLDER).parent == session
    assert f"sqlite:///{session / 'airflow' / 'airflow.db'}" == settings.SQL_ALCHEMY_CONN
    assert Path(tempfile.gettempdir()).parent == session
