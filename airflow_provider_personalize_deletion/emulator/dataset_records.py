"""
The records a dataset holds, and how each arrived: ``BULK`` (a dataset import job) or ``PUT`` (PutEvents,
PutUsers, PutItems, one record at a time).

A record is a mapping of field name to the text of its value, as an import CSV or an export CSV holds it.
The rules are the service's, as its guide states them: a FULL import replaces the dataset's bulk records
and leaves the individually imported ones; an INCREMENTAL import adds records, replacing those with the
same id (in a dataset whose records have one: users, items, actions; interaction records are events, each
one added); an export chooses by ingestion mode (``BULK``, ``PUT`` or ``ALL`` for both). A data deletion
job removes a user's records of both kinds.

User ids are personal data: nothing here logs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BULK, PUT = "BULK", "PUT"
#: An export's ``ingestionMode`` -> the kinds of records it holds.
INGESTION_MODES: dict[str, tuple[str, ...]] = {BULK: (BULK,), PUT: (PUT,), "ALL": (BULK, PUT)}
USER_ID = "USER_ID"
#: Per dataset type, the field that identifies a record (None: every record is an event of its own).
RECORD_IDS: dict[str, str | None] = {
    "INTERACTIONS": None,
    "ACTION_INTERACTIONS": None,
    "USERS": USER_ID,
    "ITEMS": "ITEM_ID",
    "ACTIONS": "ACTION_ID",
}
#: Per dataset type, the field every record must have (the schema's required id).
REQUIRED_FIELDS: dict[str, str] = {
    "INTERACTIONS": USER_ID,
    "ACTION_INTERACTIONS": USER_ID,
    "USERS": USER_ID,
    "ITEMS": "ITEM_ID",
    "ACTIONS": "ACTION_ID",
}
#: The dataset types the service cannot export (the CreateDatasetExportJob reference says so).
NOT_EXPORTABLE = frozenset({"ACTIONS", "ACTION_INTERACTIONS"})

Record = dict[str, str]


@dataclass
class DatasetRecords:
    """
    One dataset's records, per way of arrival.

    :param dataset_type: the dataset's type in upper case, a key of :data:`RECORD_IDS`.
    """

    dataset_type: str
    by_arrival: dict[str, list[Record]] = field(default_factory=lambda: {BULK: [], PUT: []})

    @property
    def record_id(self) -> str | None:
        """The field identifying a record, or None when records are events."""
        return RECORD_IDS[self.dataset_type]

    def replace_bulk(self, records: Iterable[Mapping[str, str]]) -> None:
        """:param records: a FULL import's records: they replace every bulk record (put ones stay)."""
        self.by_arrival[BULK] = []
        self.add(BULK, records)

    def add(self, arrival: str, records: Iterable[Mapping[str, str]]) -> None:
        """
        Add records (an INCREMENTAL import, or individual puts), replacing those with the same id.

        :param arrival: :data:`BULK` or :data:`PUT`.
        :param records: the records, in order (a later one with the same id wins).
        """
        held = self.by_arrival[arrival]
        key = self.record_id
        for record in records:
            record = dict(record)
            if key is not None:
                held[:] = [kept for kept in held if kept.get(key) != record.get(key)]
            held.append(record)

    def user_ids(self) -> set[str]:
        """The user ids of every record (none in a dataset without ``USER_ID``)."""
        return {
            record[USER_ID] for records in self.by_arrival.values() for record in records if USER_ID in record
        }

    def remove_users(self, user_ids: set[str]) -> None:
        """:param user_ids: remove every record, bulk or put, of these users."""
        for arrival, records in self.by_arrival.items():
            self.by_arrival[arrival] = [record for record in records if record.get(USER_ID) not in user_ids]

    def select(self, ingestion_mode: str) -> list[Record]:
        """:param ingestion_mode: a key of :data:`INGESTION_MODES`; return its records, bulk ones first."""
        return [record for arrival in INGESTION_MODES[ingestion_mode] for record in self.by_arrival[arrival]]


def fields_of(records: Iterable[Mapping[str, str]], first: str | None) -> list[str]:
    """
    The columns of a CSV holding these records: every field, in the order it first appears.

    :param records: the records.
    :param first: a field to put first (the id), kept when no record has it.
    """
    names: dict[str, None] = dict.fromkeys([first] if first else [])
    for record in records:
        names.update(dict.fromkeys(record))
    return list(names)
