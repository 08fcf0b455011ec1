"""
The errors of a scan: each names the file by its S3 location and the rule it breaks, never a user id.
"""

from __future__ import annotations


class ScanInputError(ValueError):
    """A source cannot be scanned as Personalize would read it: the message names the file and the rule."""


class CsvFormatError(ScanInputError):
    """A CSV file breaks a rule of Personalize's format (header, quoting, USER_ID value, encoding)."""


class SourceLocationError(ScanInputError):
    """An S3 location is malformed, empty, or overlaps another location it must stay apart from."""


class JsonLinesFormatError(ScanInputError):
    """A JSON Lines file has a line that is not a JSON object, or a user id that is not a string."""


class UnencryptedObjectError(ScanInputError):
    """S3 reports no server-side encryption for an object the scan must find encrypted at rest."""
