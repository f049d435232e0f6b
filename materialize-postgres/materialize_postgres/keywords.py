"""PostgreSQL's keywords that an identifier must be quoted to use: every keyword of categories R
(reserved), T (reserved, but allowed as a function or type name) and C (not a function or type
name), as a PostgreSQL 15 server lists them with

    SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T', 'C') ORDER BY word;

Unreserved keywords (U) are ordinary identifiers. The tests check this list against the server
they run on: a newer server's additions must be added here (quoting a word that needs no quotes
is harmless; a missing one breaks a statement).
"""

from __future__ import annotations

__all__ = ["KEYWORDS"]

KEYWORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant greatest
    group grouping having ilike in initially inner inout int integer intersect interval into is
    isnull join lateral leading least left like limit localtime localtimestamp national natural
    nchar none normalize not notnull null nullif numeric offset on only or order out outer
    overlaps overlay placing position precision primary real references returning right row
    select session_user setof similar smallint some substring symmetric table tablesample then
    time timestamp to trailing treat trim true union unique user using values varchar variadic
    verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest
    xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
    """.split()
)
