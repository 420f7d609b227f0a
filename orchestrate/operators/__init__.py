"""Classic operators: DatacovesDbtOperator takes its dbt command as `bash_command`."""
