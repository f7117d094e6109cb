{#- A unix timestamp column as Float64 seconds. Upstream writes some timestamps in milliseconds (cluster alert
    times default to the insert time in ms): a value above 1e11, which in seconds would lie after the year 5000,
    is read as milliseconds. -#}
{% macro unix_seconds(column) -%}
    if(toFloat64({{ column }}) > 1e11, toFloat64({{ column }}) / 1000, toFloat64({{ column }}))
{%- endmacro %}
