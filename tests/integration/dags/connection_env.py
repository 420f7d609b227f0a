"""
## A command that gets a connection's fields in its environment
`connection_to_env_vars()` gives `@task.datacoves_bash` the connection as Datacoves names it,
filled in when the task runs. The command prints a digest of the password, never the password.
"""

from airflow.sdk import dag, task

from orchestrate import config
from orchestrate.utils import datacoves_utils


@dag(
    doc_md=__doc__,
    catchup=False,
    default_args=datacoves_utils.set_default_args(owner="Data Team", owner_email="data-team@example.com"),
    schedule=None,
    tags=["test"],
)
def connection_env():
    @task.datacoves_bash(env=datacoves_utils.connection_to_env_vars(config.CONNECTION_ID), append_env=True)
    def digest_the_password():
        prefix = f"DATACOVES__{config.CONNECTION_ID.upper()}__"
        return f'printf %s "${prefix}PASSWORD" | sha256sum | cut -c1-16; echo "user=${prefix}USER"'

    digest_the_password()


connection_env()
