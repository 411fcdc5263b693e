{#- Conversion of a treated group against a control group, with absolute and relative
    lift and 95% confidence intervals (docs/analytics.md, "Lift").

    `relation`: a relation or CTE name with one row per unit (a journey instance), the
    columns in `group_by`, `arm_column` ('treatment' or 'control', or the names given in
    `treated` / `control`) and `converted_column` (1 when the unit converted, else 0).
    Returns a select with one row per group:

      treated_units, treated_conversions, control_units, control_conversions,
      treated_rate (p1 = x1/n1), control_rate (p0 = x0/n0),
      absolute_lift = p1 - p0, with Newcomb's hybrid score interval (Wilson limits per arm):
          lower = (p1 - p0) - sqrt((p1 - l1)^2 + (u0 - p0)^2)
          upper = (p1 - p0) + sqrt((u1 - p1)^2 + (p0 - l0)^2)
        where (l, u) = Wilson: (x + z^2/2)/(n + z^2) -/+ z*sqrt(n)/(n + z^2) * sqrt(p(1-p) + z^2/(4n))
      relative_lift = p1/p0 - 1, with the Katz log interval of the risk ratio:
          exp(ln(p1/p0) -/+ z * sqrt(1/x1 - 1/n1 + 1/x0 - 1/n0)) - 1
      z = 1.959963984540054 (95%, two-sided).

    Intervals are null where undefined: an empty arm (both), no conversions in an arm
    (relative). Plain arithmetic (sqrt, ln, exp) only, so every engine runs it. -#}
{% macro conversion_lift(relation, group_by, arm_column='arm', converted_column='is_converted',
                         treated='treatment', control='control', z=1.959963984540054) -%}
{%- set groups = group_by | join(', ') %}
{%- set zz = z * z %}
    select
        {{ groups }},
        treated_units,
        treated_conversions,
        control_units,
        control_conversions,
        treated_rate,
        control_rate,
        treated_rate - control_rate as absolute_lift,
        case when treated_units > 0 and control_units > 0 then
            (treated_rate - control_rate)
            - sqrt((treated_rate - treated_wilson_lower) * (treated_rate - treated_wilson_lower)
                   + (control_wilson_upper - control_rate) * (control_wilson_upper - control_rate))
        end as absolute_lift_lower,
        case when treated_units > 0 and control_units > 0 then
            (treated_rate - control_rate)
            + sqrt((treated_wilson_upper - treated_rate) * (treated_wilson_upper - treated_rate)
                   + (control_rate - control_wilson_lower) * (control_rate - control_wilson_lower))
        end as absolute_lift_upper,
        treated_rate / nullif(control_rate, 0) - 1 as relative_lift,
        case when treated_conversions > 0 and control_conversions > 0 then
            exp(ln(nullif(treated_rate, 0) / nullif(control_rate, 0)) - {{ z }} * sqrt(log_ratio_variance)) - 1
        end as relative_lift_lower,
        case when treated_conversions > 0 and control_conversions > 0 then
            exp(ln(nullif(treated_rate, 0) / nullif(control_rate, 0)) + {{ z }} * sqrt(log_ratio_variance)) - 1
        end as relative_lift_upper
    from (
        select
            rates.*,
            (treated_conversions + {{ zz / 2 }}) / nullif(treated_units + {{ zz }}, 0)
                - {{ z }} * sqrt(treated_units) / nullif(treated_units + {{ zz }}, 0)
                  * sqrt(treated_rate * (1 - treated_rate) + {{ zz / 4 }} / nullif(treated_units, 0)) as treated_wilson_lower,
            (treated_conversions + {{ zz / 2 }}) / nullif(treated_units + {{ zz }}, 0)
                + {{ z }} * sqrt(treated_units) / nullif(treated_units + {{ zz }}, 0)
                  * sqrt(treated_rate * (1 - treated_rate) + {{ zz / 4 }} / nullif(treated_units, 0)) as treated_wilson_upper,
            (control_conversions + {{ zz / 2 }}) / nullif(control_units + {{ zz }}, 0)
                - {{ z }} * sqrt(control_units) / nullif(control_units + {{ zz }}, 0)
                  * sqrt(control_rate * (1 - control_rate) + {{ zz / 4 }} / nullif(control_units, 0)) as control_wilson_lower,
            (control_conversions + {{ zz / 2 }}) / nullif(control_units + {{ zz }}, 0)
                + {{ z }} * sqrt(control_units) / nullif(control_units + {{ zz }}, 0)
                  * sqrt(control_rate * (1 - control_rate) + {{ zz / 4 }} / nullif(control_units, 0)) as control_wilson_upper,
            case when treated_conversions > 0 and control_conversions > 0 then
                1.0 / treated_conversions - 1.0 / treated_units + 1.0 / control_conversions - 1.0 / control_units
            end as log_ratio_variance
        from (
            select
                counts.*,
                cast(treated_conversions as {{ type_double() }}) / nullif(treated_units, 0) as treated_rate,
                cast(control_conversions as {{ type_double() }}) / nullif(control_units, 0) as control_rate
            from (
                select
                    {{ groups }},
                    sum(case when {{ arm_column }} = '{{ treated }}' then 1 else 0 end) as treated_units,
                    sum(case when {{ arm_column }} = '{{ treated }}' then {{ converted_column }} else 0 end) as treated_conversions,
                    sum(case when {{ arm_column }} = '{{ control }}' then 1 else 0 end) as control_units,
                    sum(case when {{ arm_column }} = '{{ control }}' then {{ converted_column }} else 0 end) as control_conversions
                from {{ relation }}
                group by {{ groups }}
            ) as counts
        ) as rates
    ) as with_limits
{%- endmacro %}
