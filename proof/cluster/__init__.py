"""A package, so that the Airflow its conftest.py starts (package-scoped) stops when its tests end."""
