{#- The label horizon (var label_horizon_days): an alert's label is what was known about its address up to this
    many days after the alert. A whole number of days from 0 (the label known when the alert fired) to 3650. -#}
{% macro label_horizon_days() -%}
    {%- set value = var('label_horizon_days') | string -%}
    {%- if not modules.re.match('^(0|[1-9][0-9]{0,3})$', value) or value | int > 3650 -%}
        {{ exceptions.raise_compiler_error("var 'label_horizon_days' must be a whole number of days from 0 to 3650, got " ~ value | tojson) }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}

{#- The last processing date whose labels are mature, as a SQL Date expression: the newest ingested drop less the
    horizon. A date's label reads every drop up to processing_date + label_horizon_days; once the newest drop has
    reached that cutoff no later drop can change it. Label tables hold mature dates only. -#}
{% macro labels_mature_through() -%}
    (select max(processing_date) from {{ ref('stg_ingested_drops') }}) - {{ label_horizon_days() }}
{%- endmacro %}
