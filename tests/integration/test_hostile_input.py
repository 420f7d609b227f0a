"""Through Airflow itself: a templated value from a run's conf cannot reach the shell."""

import pytest

pytestmark = pytest.mark.integration


def test_a_hostile_conf_value_reaches_dbt_as_one_quoted_word(dag_runner, tmp_path):
    markers = [tmp_path / f"pwned-{i}" for i in range(3)]
    hostile = f"orders; touch {markers[0]} $(touch {markers[1]}) `touch {markers[2]}` {{{{ 7 * 7 }}}}"

    state, _ = dag_runner.run("dbt_command_from_conf", conf={"select": hostile})

    assert state == "failed"  # dbt refuses the odd selector; the shell ran nothing of it
    assert [marker for marker in markers if marker.exists()] == []
    # What the UI shows as the command: the quoted word, `{{ 7 * 7 }}` unrendered.
    assert rendered_command("dbt_command_from_conf", "dbt_ls") == f"dbt ls -s '{hostile}'"


def rendered_command(dag_id: str, task_id: str) -> str:
    """The command as Airflow's UI shows it (rendered template fields, after execution)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(Rendered).where(Rendered.dag_id == dag_id, Rendered.task_id == task_id)
        return session.scalars(query).one().rendered_fields["bash_command"]
