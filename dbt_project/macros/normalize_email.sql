{#- An email as one person: all surrounding whitespace stripped (tabs and newlines too,
    which SQL trim() keeps), lower-cased, Unicode NFC; empty becomes null. -#}

{% macro normalize_email(column) -%}
    {{ return(adapter.dispatch('normalize_email', 'throughline')(column)) }}
{%- endmacro %}

{% macro default__normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{% macro duckdb__normalize_email(column) -%}
    nullif(nfc_normalize(lower(trim({{ column }}, chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160)))), '')
{%- endmacro %}

{% macro postgres__normalize_email(column) -%}
    nullif(normalize(lower(btrim({{ column }}, E' \t\n\x0b\f\r\u00a0')), NFC), '')
{%- endmacro %}
