{#- The build window comes from user input (`--vars`) and reaches SQL only through these macros, which validate it
    first: a network is an identifier, dates are ISO dates and start <= end; anything else stops the build in one line. -#}

{#- The network var, an identifier: the database of every model. -#}
{% macro validated_network() -%}
    {%- set network = var('network') | string -%}
    {%- if not modules.re.match('^[a-z][a-z0-9_]{0,63}$', network) -%}
        {{ exceptions.raise_compiler_error("var 'network' must match ^[a-z][a-z0-9_]{0,63}$, got " ~ network | tojson) }}
    {%- endif -%}
    {{- network -}}
{%- endmacro %}

{#- Date var `name`, a calendar date YYYY-MM-DD. -#}
{% macro _validated_date(name) -%}
    {%- set value = var(name) | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("var '" ~ name ~ "' must be an ISO date YYYY-MM-DD, got " ~ value | tojson) }}
    {%- endif -%}
    {%- set year, month, day = value[0:4] | int, value[5:7] | int, value[8:10] | int -%}
    {%- set leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 -%}
    {%- set month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
    {%- if month < 1 or month > 12 or day < 1 or day > month_days[month - 1] -%}
        {{ exceptions.raise_compiler_error("var '" ~ name ~ "' is not a calendar date: " ~ value | tojson) }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}

{#- The window's first and last processing dates, validated together (start <= end). -#}
{% macro _validated_window() -%}
    {%- set start = _validated_date('start') -%}
    {%- set end = _validated_date('end') -%}
    {%- if start > end -%}
        {{ exceptions.raise_compiler_error("window start " ~ start ~ " is after window end " ~ end) }}
    {%- endif -%}
    {{- return([start, end]) -}}
{%- endmacro %}

{#- The first and last processing_date of the window, as SQL Date literals. -#}
{% macro window_start() %}toDate('{{ _validated_window()[0] }}'){% endmacro %}
{% macro window_end() %}toDate('{{ _validated_window()[1] }}'){% endmacro %}

{#- The upstream drop window (the `<window_days>d` folder of a drop), a positive integer. -#}
{% macro window_days() -%}
    {%- set value = var('window_days') | string -%}
    {%- if not modules.re.match('^[1-9][0-9]{0,3}$', value) -%}
        {{ exceptions.raise_compiler_error("var 'window_days' must be a positive integer, got " ~ value | tojson) }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}

{#- on-run-start: validate every var that reaches SQL before any model or test runs. -#}
{% macro validate_build_vars() -%}
    {%- do validated_network() -%}
    {%- do window_start() -%}
    {%- do _validated_date('checks_from') -%}
    {%- do window_days() -%}
    {%- do label_horizon_days() -%}
    {%- for name in ['typologies', 'suspected_address_types', 'cluster_types'] -%}
        {%- do vocabulary(name) -%}
    {%- endfor -%}
    {%- do address_feature_exclusions() -%}
    select 1
{%- endmacro %}
