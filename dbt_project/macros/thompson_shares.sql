{#- The shares of Thompson-sampled variants (docs/journeys.md, "Adaptive variants").

    `counts` is a relation with one row per variant: journey, step_id, variant,
    variant_order, floor_share, successes, trials. Each variant's conversion rate has the
    posterior Beta(1 + successes, 1 + trials - successes) (a uniform prior), and
    p_best = P(its rate is the highest) = integral of f_v(x) * prod over u != v of F_u(x),
    integrated numerically on 1,000 equal cells of the range where the posteriors have
    their mass (10 standard deviations either side of the means): plain SQL on every
    engine, and the same result for the same counts - no random draws.

    The density is normalised over the cells, so no Beta function is needed; it is worked
    out in logarithms, clamped at e^-700, because PostgreSQL raises an error rather than
    round a float to zero. A tie inside a cell counts half (F_u at the cell's midpoint).

    share = floor + (1 - n * floor) * p_best: every variant keeps its floor and the rest
    follows P(best), so the shares sum to 1 and none falls below the floor (clipping and
    renormalising could push a clipped variant back under it). -#}
{% macro thompson_shares(counts, cells=1000) -%}
    with digits as (
        select digit from (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as digits (digit)
    ),

    grid as (
        select hundreds.digit * 100 + tens.digit * 10 + ones.digit as cell
        from digits as hundreds
        cross join digits as tens
        cross join digits as ones
        where hundreds.digit * 100 + tens.digit * 10 + ones.digit < {{ cells }}
    ),

    posteriors as (
        select
            journey,
            step_id,
            variant,
            variant_order,
            cast(floor_share as {{ type_double() }}) as floor_share,
            successes,
            trials,
            cast(1 + successes as {{ type_double() }}) as alpha,
            cast(1 + trials - successes as {{ type_double() }}) as beta
        from {{ counts }}
    ),

    spreads as (
        select
            posteriors.*,
            alpha / (alpha + beta) as mean,
            sqrt(alpha * beta / ((alpha + beta) * (alpha + beta) * (alpha + beta + 1))) as sd
        from posteriors
    ),

    ranges as (
        select
            journey,
            step_id,
            count(*) as variant_count,
            greatest(cast(0 as {{ type_double() }}), min(mean - 10 * sd)) as low,
            least(cast(1 as {{ type_double() }}), max(mean + 10 * sd)) as high
        from spreads
        group by journey, step_id
    ),

    log_densities as (
        -- at each cell's midpoint, strictly inside (0, 1)
        select
            spreads.journey,
            spreads.step_id,
            spreads.variant,
            grid.cell,
            (spreads.alpha - 1) * ln(ranges.low + (grid.cell + 0.5) * (ranges.high - ranges.low) / {{ cells }})
                + (spreads.beta - 1) * ln(1 - (ranges.low + (grid.cell + 0.5) * (ranges.high - ranges.low) / {{ cells }})) as log_density
        from spreads
        inner join ranges on ranges.journey = spreads.journey and ranges.step_id = spreads.step_id
        cross join grid
    ),

    weights as (
        select
            log_densities.*,
            exp(greatest(log_density - max(log_density) over (partition by journey, step_id, variant), -700)) as weight
        from log_densities
    ),

    masses as (
        select
            journey,
            step_id,
            variant,
            cell,
            greatest(weight / sum(weight) over (partition by journey, step_id, variant), exp(-700)) as mass
        from weights
    ),

    below as (
        -- F(x) at the cell's midpoint: the mass of the cells before it and half its own
        select
            masses.*,
            sum(mass) over (partition by journey, step_id, variant order by cell rows between unbounded preceding and current row) - mass / 2 as cdf
        from masses
    ),

    every_cdf as (
        select journey, step_id, cell, sum(ln(cdf)) as log_cdf_product
        from below
        group by journey, step_id, cell
    ),

    integrals as (
        select
            below.journey,
            below.step_id,
            below.variant,
            sum(exp(greatest(ln(below.mass) + every_cdf.log_cdf_product - ln(below.cdf), -700))) as integral
        from below
        inner join every_cdf
            on every_cdf.journey = below.journey and every_cdf.step_id = below.step_id and every_cdf.cell = below.cell
        group by below.journey, below.step_id, below.variant
    ),

    best as (
        -- normalised: the cells' rounding and the clamp leave the sum a hair off 1
        select
            integrals.journey,
            integrals.step_id,
            integrals.variant,
            integrals.integral / sum(integrals.integral) over (partition by integrals.journey, integrals.step_id) as p_best
        from integrals
    )

    select
        spreads.journey,
        spreads.step_id,
        spreads.variant,
        spreads.variant_order,
        spreads.floor_share,
        spreads.successes,
        spreads.trials,
        best.p_best,
        spreads.floor_share + (1 - ranges.variant_count * spreads.floor_share) * best.p_best as share
    from spreads
    inner join best
        on best.journey = spreads.journey and best.step_id = spreads.step_id and best.variant = spreads.variant
    inner join ranges on ranges.journey = spreads.journey and ranges.step_id = spreads.step_id
{%- endmacro %}

{#- A Thompson-sampled step's outcomes per variant, from what its journey model had decided
    by its last run (read before this run rebuilds it: the journey model reads the shares,
    so it runs after variant_shares). A trial is a treated instance whose message of the
    step the ledger says was sent, a success one of them that converted (a goal within the
    conversion window), both by now. The holdout gets no variant, so it never counts.
    Nothing yet (a new journey, a new warehouse): no rows, and the prior alone decides. -#}
{% macro thompson_outcomes(journey_model, step_id) -%}
    {%- set decided = adapter.get_relation(database=this.database, schema=this.schema, identifier=journey_model) if execute else none -%}
    {%- if decided is none -%}
    select cast(null as {{ dbt.type_string() }}) as variant, 0 as successes, 0 as trials where 1 = 0
    {%- else -%}
    select
        sent.variant,
        sum(case when instance.state = 'converted' and instance.exited_at <= {{ throughline_now() }} then 1 else 0 end) as successes,
        count(*) as trials
    from {{ decided }} as sent
    inner join {{ decided }} as instance
        on instance.row_kind = 'instance' and instance.instance_id = sent.instance_id
    where sent.row_kind = 'action'
      and sent.step_id = '{{ step_id }}'
      and sent.arm = 'treatment'
      and sent.variant is not null
      and sent.ledger_status = 'sent'
      and sent.scheduled_at <= {{ throughline_now() }}
    group by sent.variant
    {%- endif %}
{%- endmacro %}
