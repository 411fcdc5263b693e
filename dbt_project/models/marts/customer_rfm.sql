-- Recency, frequency and monetary value of every customer who ordered in the last
-- var('rfm_window_days') days (up to now), scored 1-5 and named.
--
-- Scoring rules:
--   recency_days  whole days (calendar dates, UTC) from the last order to now;
--   frequency     orders in the window;  monetary  their revenue in USD.
--   Each score is a quintile by position: sort the n scored customers so the best value
--   comes last (recency: most days first; frequency, monetary: smallest first); a
--   customer at position p (0-based) scores 1 + floor(5 * p / n). Ties are never split:
--   tied customers all take the position of the first of them (SQL rank() - 1), so equal
--   values always get equal scores and the result doesn't depend on row order.
--   The segment is the first row of seed rfm_segments (by priority) whose r/f/m ranges
--   (inclusive) hold the customer's scores; analysts edit the seed.
with orders as (
    select * from {{ ref('fct_orders') }}
    where customer_id is not null
      and ordered_at <= {{ throughline_now() }}
      and ordered_at > {{ dbt.dateadd('day', -1 * var('rfm_window_days'), throughline_now()) }}
),

segments as (
    select * from {{ ref('rfm_segments') }}
),

customer_values as (
    select
        customer_id,
        max(ordered_at) as last_ordered_at,
        count(*) as frequency,
        sum(revenue_usd) as monetary
    from orders
    group by customer_id
),

measured as (
    select
        customer_id,
        last_ordered_at,
        {{ dbt.datediff('last_ordered_at', throughline_now(), 'day') }} as recency_days,
        frequency,
        monetary
    from customer_values
),

positions as (
    select
        measured.*,
        count(*) over () as scored_customers,
        rank() over (order by recency_days desc) - 1 as recency_position,
        rank() over (order by frequency) - 1 as frequency_position,
        rank() over (order by monetary) - 1 as monetary_position
    from measured
),

scored as (
    select
        customer_id,
        last_ordered_at,
        recency_days,
        frequency,
        monetary,
        1 + cast(floor(5.0 * recency_position / scored_customers) as integer) as r_score,
        1 + cast(floor(5.0 * frequency_position / scored_customers) as integer) as f_score,
        1 + cast(floor(5.0 * monetary_position / scored_customers) as integer) as m_score
    from positions
),

matches as (
    select
        scored.customer_id,
        segments.segment_key,
        segments.segment_name,
        row_number() over (partition by scored.customer_id order by segments.priority) as match_rank
    from scored
    inner join segments
        on scored.r_score between segments.r_min and segments.r_max
        and scored.f_score between segments.f_min and segments.f_max
        and scored.m_score between segments.m_min and segments.m_max
),

final as (
    select
        scored.*,
        cast(scored.r_score as {{ dbt.type_string() }})
            || cast(scored.f_score as {{ dbt.type_string() }})
            || cast(scored.m_score as {{ dbt.type_string() }}) as rfm_cell,
        matches.segment_key,
        matches.segment_name
    from scored
    left join matches
        on matches.customer_id = scored.customer_id
        and matches.match_rank = 1
)

select * from final
