{#- The address family passes on each numeric or boolean column of raw_features (read from the table, never a hand-kept
    list) but those var address_feature_exclude names. Empty at parse time (dbt reads no table then). -#}

{#- True for a ClickHouse numeric or boolean type name. -#}
{% macro _is_numeric_type(data_type) -%}
    {{- return(modules.re.match('^(Nullable\\()?(U?Int(8|16|32|64|128|256)|Float(32|64)|Decimal.*|Bool)\\)?$', data_type) is not none) -}}
{%- endmacro %}

{#- Every numeric or boolean column of raw_features but window_days, in table order (plain identifiers only). -#}
{% macro upstream_numeric_columns() -%}
    {%- set names = [] -%}
    {%- for column in (adapter.get_columns_in_relation(source('raw', 'raw_features')) if execute else []) -%}
        {%- if column.name != 'window_days' and _is_numeric_type(column.data_type) and modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', column.name) -%}
            {%- do names.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(names) -}}
{%- endmacro %}

{#- The columns of var address_feature_exclude, validated as identifiers. -#}
{% macro address_feature_exclusions() -%}
    {%- set excluded = var('address_feature_exclude', []) or [] -%}
    {%- for name in excluded -%}
        {%- if not modules.re.match('^[a-z_][a-z0-9_]{0,63}$', name | string) -%}
            {{ exceptions.raise_compiler_error("var 'address_feature_exclude' lists " ~ name | tojson ~ ", which is not a column name") }}
        {%- endif -%}
    {%- endfor -%}
    {{- return(excluded | map('string') | list) -}}
{%- endmacro %}

{#- The address family's features: upstream_numeric_columns() less the excluded ones. -#}
{% macro address_feature_columns() -%}
    {%- set excluded = address_feature_exclusions() -%}
    {%- set available = upstream_numeric_columns() -%}
    {%- set unknown = excluded | reject('in', available) | list if execute else [] -%}
    {%- if unknown -%}
        {{ log("var address_feature_exclude names columns raw_features does not have as numbers: " ~ unknown | join(', '), info=True) }}
    {%- endif -%}
    {{- return(available | reject('in', excluded) | list) -}}
{%- endmacro %}
