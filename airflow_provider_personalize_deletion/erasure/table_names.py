"""What the erasure tables may be called: plain SQL identifiers, safe inside SQL text."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")


def is_table_name(value: object) -> bool:
    """:param value: what should be a plain, optionally schema-qualified, SQL table name."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None
