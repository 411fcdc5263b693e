{#- A Stripe amount (an integer in the currency's smallest unit) in the currency's major
    unit: cents to dollars. Stripe's zero-decimal currencies (JPY, KRW, ...) are already
    whole units (https://docs.stripe.com/currencies#zero-decimal). -#}
{% macro stripe_major_units(amount, currency) -%}
    cast(
        cast({{ amount }} as {{ dbt.type_numeric() }})
        / case when upper(cast({{ currency }} as {{ dbt.type_string() }})) in (
            'BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'
        ) then 1 else 100 end
    as {{ dbt.type_numeric() }})
{%- endmacro %}
