"""Checks every DAG file in dags/ is held to (parametrised, so a new DAG is covered at once)."""


def dags_in(dagbag, dag_file):
    dags = [dag for dag in dagbag.dags.values() if dag.fileloc == str(dag_file)]
    assert dags, f"{dag_file.name} defines no DAG"
    return dags


def test_imports_without_errors(dagbag, dag_file):
    assert str(dag_file) not in dagbag.import_errors


def test_parses_without_dbt_the_database_or_a_process(isolated_parse_errors, dag_file):
    assert isolated_parse_errors[str(dag_file)] == []


def test_has_tags(dagbag, dag_file):
    for dag in dags_in(dagbag, dag_file):
        assert dag.tags, f"{dag.dag_id} has no tags"


def test_does_not_catch_up(dagbag, dag_file):
    for dag in dags_in(dagbag, dag_file):
        assert dag.catchup is False, f"{dag.dag_id}: set catchup=False"


def test_has_documentation(dagbag, dag_file):
    for dag in dags_in(dagbag, dag_file):
        assert dag.doc_md, f"{dag.dag_id}: set doc_md=__doc__ and give the file a docstring"


def test_every_task_retries_and_has_an_owner(dagbag, dag_file):
    for dag in dags_in(dagbag, dag_file):
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} never retries"
            assert task.owner not in (None, "", "airflow"), f"{dag.dag_id}.{task.task_id} has no owner"
