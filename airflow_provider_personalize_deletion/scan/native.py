"""
Whether the scan uses its native pre-filter, decided here once for every reader.

The pre-filter (``_native``, C, built with the wheel when a compiler and OpenSSL's ``libcrypto`` are
there, see ``hatch_build.py``) reads a block of unquoted CSV records, HMACs each USER_ID and looks it
up in the suppressed set, and hands back the records whose key is in the set: no Python work per
record. It is conservative: it handles a block only when every line is one it reads exactly as
:class:`~.csv_records.CsvRecordReader` does (else the Python reader reads the block), and every
record it hands back is read again and looked up again by the Python path, which decides. Without the
module (no compiler at install time, another platform) every block goes the Python way, with the same
results.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

import numpy as np


def _load() -> ModuleType | None:
    try:
        from airflow_provider_personalize_deletion.scan import _native  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _native


NATIVE: Final = "native"
PYTHON: Final = "python"
_MODULE: ModuleType | None = _load()


def scan_path() -> str:
    """:data:`NATIVE` when the pre-filter is there, else :data:`PYTHON`."""
    return NATIVE if _MODULE is not None else PYTHON


class CsvPrefilter:
    """
    The native pre-filter bound to one suppressed set.

    :param key: the fingerprint key.
    :param keys: the set's sorted 12-byte keys, one contiguous buffer.
    :param starts: the set's directory of bucket starts (``uint32``, ``2**bits + 1`` entries).
    :param shift: ``64 - bits``.
    """

    def __init__(self, key: bytes, keys: np.ndarray, starts: np.ndarray, shift: int) -> None:
        self._key = key
        self._keys = keys
        self._starts = starts
        self._shift = shift

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return "CsvPrefilter()"

    def __call__(self, data: bytes, column: int) -> tuple[int, list[int], list[int]] | None:
        """
        :param data: whole records, no header.
        :param column: the USER_ID's position among the fields, from 0.
        :return: the block's record count, and the positions and start offsets of the records whose id
            may be suppressed; None when a line is not one the pre-filter reads exactly (a double quote or
            a backslash in it, a CR not before its LF, too few fields, an empty id or one over 256 bytes).
        """
        assert _MODULE is not None
        return _MODULE.csv_candidates(data, column, self._key, self._keys, self._starts, self._shift)  # type: ignore[no-any-return]


def csv_prefilter(key: bytes, keys: np.ndarray, starts: np.ndarray, shift: int) -> CsvPrefilter | None:
    """
    The pre-filter for a suppressed set, or None when the scan runs on the Python path.

    :param key: as for :class:`CsvPrefilter`.
    :param keys: as for :class:`CsvPrefilter`.
    :param starts: as for :class:`CsvPrefilter`.
    :param shift: as for :class:`CsvPrefilter`.
    """
    if _MODULE is None:
        return None
    return CsvPrefilter(key, np.ascontiguousarray(keys).view(np.uint8), starts, shift)
