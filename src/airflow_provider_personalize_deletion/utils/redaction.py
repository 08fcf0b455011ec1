"""
Redaction of text the service writes about a job (``failureReason``) before it is logged or stored.

The service's reason may quote a row of the deletion file (a user id) or a value it could not
read. Before such text reaches a log, an exception message, XCom or the audit trail it is cut to
a bounded length, every quoted value is replaced, and every word shaped like an identifier (it
mixes letters with digits, holds ``@``, or is a number of four digits or more) is replaced too.
AWS resource names (``arn:…``) and S3 URIs (``s3://…``) are kept: they name the job's own
configuration, and the reason is useless without them.
"""

from __future__ import annotations

import re

#: The longest redacted reason kept, in characters (the service's own limit is not documented).
MAX_REASON_LENGTH = 500
REDACTED = "<redacted>"

_QUOTED = re.compile(r"""'[^']*'|"[^"]*"|`[^`]*`""" + "|\u2018[^\u2019]*\u2019|\u201c[^\u201d]*\u201d")
_KEPT = re.compile(r"(?:arn:[\w-]+:[\w-]+:[\w-]*:\d*:\S+|s3://\S+)")
# A word with a digit and a letter, an e-mail-like word, a number of four digits or more (numeric ids),
# or a long hex/base64-like token.
_ID_SHAPED = re.compile(
    r"[^\s,;()\[\]{}<>]*(?:\d[^\s,;()\[\]{}<>]*[^\W\d]|[^\W\d][^\s,;()\[\]{}<>]*\d|@)[^\s,;()\[\]{}<>]*"
    r"|\d{4,}|[0-9a-fA-F-]{16,}|[A-Za-z0-9+/=_-]{32,}"
)


def redact_failure_reason(reason: object) -> str | None:
    """
    Make a job's ``failureReason`` safe to log and store.

    :param reason: the service's text; ``None`` stays ``None``.
    :return: the text bounded to :data:`MAX_REASON_LENGTH` characters, quoted values,
        identifier-shaped words and numbers of four digits or more replaced by ``<redacted>``;
        ARNs and ``s3://`` URIs kept.
    """
    if reason is None:
        return None
    text = " ".join(str(reason).split())
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _KEPT.sub(keep, text)
    text = _QUOTED.sub(REDACTED, text)
    text = _ID_SHAPED.sub(lambda match: match.group(0) if "\x00" in match.group(0) else REDACTED, text)
    text = re.sub(r"\x00(\d+)\x00", lambda match: kept[int(match.group(1))], text)
    if len(text) > MAX_REASON_LENGTH:
        text = text[: MAX_REASON_LENGTH - 1] + "…"
    return text
