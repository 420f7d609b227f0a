{#- Fails the models that DBT_FORCE_FAILURE names, on an Airflow task's first try only. -#}
{% macro fail_on_first_try() -%}
    {%- set forced = env_var('DBT_FORCE_FAILURE', '').split(',') | map('trim') | list -%}
    {%- if this.name in forced and env_var('AIRFLOW_CTX_TRY_NUMBER', '1') in ('', '1') -%}
        select error('shared_macros failed model {{ this.name }} on purpose')
    {%- endif -%}
{%- endmacro %}
