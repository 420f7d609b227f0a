{#- Raw amounts are integer cents; marts report dollars with two decimals. -#}
{% macro cents_to_dollars(column_name, scale=2) -%}
    ({{ column_name }} / 100.0)::decimal(16, {{ scale }})
{%- endmacro %}
