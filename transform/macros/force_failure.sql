{#-
    Deterministic failure switch for demos and tests of the Airflow retry path.
    Applied to every model as a pre-hook in dbt_project.yml; it renders to nothing,
    and dbt skips empty hooks, unless DBT_FORCE_FAILURE lists this model
    (comma-separated names). It fails only while AIRFLOW_CTX_TRY_NUMBER is unset
    or "1", so the first Airflow try fails and the automatic retry succeeds.
-#}
{% macro force_failure() -%}
    {%- set forced = env_var('DBT_FORCE_FAILURE', '').split(',') | map('trim') | list -%}
    {%- set try_number = env_var('AIRFLOW_CTX_TRY_NUMBER', '1') | trim -%}
    {%- if this.name in forced and try_number in ('', '1') -%}
        select error('Forced failure of model {{ this.name }} (DBT_FORCE_FAILURE names it, first try only): unset DBT_FORCE_FAILURE to let it run.')
    {%- endif -%}
{%- endmacro %}
