"""Airflow reads this (entry point `apache_airflow_provider`) to find `@task.datacoves_dbt` and
`@task.datacoves_bash`.

An invalid dict here breaks `import airflow` for the whole environment:
tests/orchestrate/test_get_provider_info.py validates it against Airflow's own schema.
"""


def get_provider_info() -> dict:
    return {
        # Must equal the normalised distribution name in pyproject.toml.
        "package-name": "dbt-retry-template",  # copier: swap dist_name
        "name": "dbt retry template",  # copier: swap provider_name
        "description": "`@task.datacoves_dbt`: run dbt, store each try's artifacts, retry only what failed; "
        "`@task.datacoves_bash`: run a command from the repository.",
        "versions": ["0.1.0"],
        "task-decorators": [
            {
                "name": "datacoves_dbt",
                "class-name": "orchestrate.decorators.datacoves_dbt.datacoves_dbt_task",
            },
            {
                "name": "datacoves_bash",
                "class-name": "orchestrate.decorators.datacoves_bash.datacoves_bash_task",
            },
        ],
    }
