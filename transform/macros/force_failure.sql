{#-
    Deterministic failure switch for demos and tests of the Airflow retry path.
    Applied to every model as a pre-hook in dbt_project.yml; it renders to nothing,
    and dbt skips empty hooks, unless DBT_FORCE_FAILURE lists this model
    (comma-separated names). It fails only while AIRFLOW_CTX_TRY_NUMBER is unset
    or "1", so the first Airflow try fails and the automatic retry succeeds.
    A name that is no model of the project fails every model, on every try, saying
    so: a switch that silently forced nothing would pass for a working retry.
-#}
{% macro force_failure() -%}
    {%- set names = env_var('DBT_FORCE_FAILURE', '').split(',') -%}
    {%- set forced = names | map('trim') | reject('equalto', '') | list -%}
    {%- set try_number = env_var('AIRFLOW_CTX_TRY_NUMBER', '1') | trim -%}
    {%- if execute and forced -%}
        {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') -%}
        {%- set models = nodes | map(attribute='name') | sort -%}
        {%- set unknown = forced | reject('in', models) | list -%}
        {%- if unknown -%}
            {{ exceptions.raise_compiler_error(
                "DBT_FORCE_FAILURE names " ~ unknown | join(', ')
                ~ ", which is not a model of this project: name one of "
                ~ models | join(', ') ~ ", or unset it."
            ) }}
        {%- endif -%}
    {%- endif -%}
    {%- if this.name in forced and try_number in ('', '1') -%}
        {{ fail_with(
            'Forced failure of model ' ~ this.name ~ ' (DBT_FORCE_FAILURE names it, first try only): '
            ~ 'unset DBT_FORCE_FAILURE to let it run.'
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- A statement that fails with `message`. Each warehouse raises an error its own way. -#}
{% macro fail_with(message) -%}
    {{ return(adapter.dispatch('fail_with')(message)) }}
{%- endmacro %}

{% macro duckdb__fail_with(message) -%}
    select error('{{ message }}')
{%- endmacro %}

{% macro postgres__fail_with(message) -%}
    do $$ begin raise exception '{{ message }}'; end $$
{%- endmacro %}
