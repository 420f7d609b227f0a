"""Python that the DAGs in dags/ import: helpers, the dbt decorator and the dbt API store."""
