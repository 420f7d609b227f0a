"""TaskFlow decorators registered with Airflow (see orchestrate/get_provider_info.py)."""
