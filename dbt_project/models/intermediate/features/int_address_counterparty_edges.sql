{{ config(order_by=['processing_date', 'address_key', 'counterparty_key'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': 0}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read its own drop only. -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

{# The money-flow graph of each processing date, stored sorted by (processing_date, address_key, counterparty_key)
    for the network family's models, which read it in that order and so hold one date at a time, not the window.
    It is built in order too (query_settings in dbt_project.yml): the raw flows are sorted by date, each flow is
    turned into its two directed rows in place (arrayJoin; a union all of two reads would lose the order), and the
    aggregation by date, address and counterparty emits each date when the next begins.
    Addresses are joined and grouped as 64-bit hashes (address_key): the flow graph of a busy chain has hundreds of
    millions of (date, address, counterparty) keys, and a hash key holds 8 bytes where an address string holds 40 or
    more. Two addresses of one chain colliding is a chance of about n^2 / 2^65 (10^-6 at 10M addresses); the
    features are aggregates, so one collision would blur two addresses' sums, not break the build. #}

with flows as (
    select processing_date, cityHash64(from_address) as from_key, cityHash64(to_address) as to_key, amount_usd
    from {{ ref('stg_money_flows') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and from_address != to_address
      and {{ dates_to_build }}
),

directed_edges as (
    -- Every flow seen from both of its ends.
    select
        processing_date,
        arrayJoin([0, 1]) as is_inbound,
        if(is_inbound = 1, to_key, from_key) as address_key,
        if(is_inbound = 1, from_key, to_key) as counterparty_key,
        amount_usd
    from flows
),

counterparty_edges as (
    -- The 1-hop neighbourhood: one row per address, counterparty and processing date.
    select
        processing_date,
        address_key,
        counterparty_key,
        sumIf(amount_usd, is_inbound = 0) as volume_out,
        sumIf(amount_usd, is_inbound = 1) as volume_in,
        volume_out + volume_in as volume
    from directed_edges
    group by processing_date, address_key, counterparty_key
),

final as (
    select processing_date, address_key, counterparty_key, volume_out, volume_in, volume
    from counterparty_edges
)

select final.*, now64(3) as built_at from final
