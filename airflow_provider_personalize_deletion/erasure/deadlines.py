"""
When an erasure request is due, as the law counts it, and which requests are overdue or were erased late.

GDPR art. 12(3): "without undue delay and in any event within one month of receipt", "extended by two
further months where necessary". A period of months is counted as Regulation (EEC, Euratom) No
1182/71 counts it (art. 3(1) and 3(2)(c)): the day of receipt is not counted, and the period ends at
the end of the day of the last month with the same date as the day of receipt, or, when that month
has no such date, at the end of its last day. Received on 15 January: due 15 February; received on 31
January: due 28 February (29 in a leap year); received on 29 February: due 29 March. An extension of
``n`` months counts ``1 + n`` months from the day of receipt (31 January, extended by 2: 30 April).

What this does not count: public holidays, Saturdays and Sundays (1182/71 art. 3(4) would move a
deadline falling on one to the next working day; this keeps the earlier day, so a request is never
shown on time when it may be late). Days are UTC days: a request received at 23:30 on 31 January in
Berlin (22:30 UTC) is received on 31 January; one received at 00:30 on 1 February in Berlin is
received on 31 January UTC too, and so due a day earlier than a Berlin count would say.

The other rule, :data:`DAYS` (for laws that count days, e.g. 45 under the CCPA), is due ``days`` after
the day of receipt; an extension adds its months the same way.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from airflow_provider_personalize_deletion.erasure.columns import EXTENSION_MONTHS

#: The deadline rules: GDPR art. 12(3)'s calendar month, or a number of days (the setting ``overdue_days``).
CALENDAR_MONTH, DAYS = "calendar_month", "days"
RULES = (CALENDAR_MONTH, DAYS)
#: Months a request may be extended by, at most (GDPR art. 12(3)).
MAX_EXTENSION_MONTHS = 2


@dataclass(frozen=True)
class Deadline:
    """
    How long a request may wait.

    :param rule: :data:`CALENDAR_MONTH` (GDPR art. 12(3)) or :data:`DAYS`.
    :param days: the days of the :data:`DAYS` rule (the setting ``overdue_days``); unused by the other.
    """

    rule: str = CALENDAR_MONTH
    days: int = 30

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"Invalid parameter 'deadline': must be one of {', '.join(RULES)}")

    def due_on(self, received: date, extension_months: int = 0) -> date:
        """
        The last day (UTC) a request received on ``received`` may be answered.

        :param received: the UTC day of receipt.
        :param extension_months: the request's extension, 0 to :data:`MAX_EXTENSION_MONTHS`.
        """
        if self.rule == DAYS:
            return add_months(received + timedelta(days=self.days), extension_months)
        return add_months(received, 1 + extension_months)

    def due_at(self, requested_at: datetime, extension_months: int = 0) -> datetime:
        """
        The moment a request is due: the end of its last day, UTC.

        :param requested_at: when it was received (aware).
        :param extension_months: the request's extension.
        """
        last = self.due_on(requested_at.astimezone(timezone.utc).date(), extension_months)
        return datetime.combine(last + timedelta(days=1), datetime.min.time(), timezone.utc) - timedelta(
            microseconds=1
        )

    def first_on_time(self, today: date, extension_months: int = 0) -> date:
        """
        The first day of receipt whose request is not due before ``today``: a request received before it,
        and still open on ``today``, is overdue; one erased on ``today`` was erased late.

        :param today: the UTC day.
        :param extension_months: the extension of the requests counted.
        """
        # due_on is non-decreasing in the day of receipt: step from an estimate to the boundary.
        if self.rule == DAYS:
            day = add_months(today - timedelta(days=self.days), -extension_months)
        else:
            day = add_months(today, -1 - extension_months)
        while self.due_on(day, extension_months) >= today:
            day -= timedelta(days=1)
        while self.due_on(day, extension_months) < today:
            day += timedelta(days=1)
        return day


def add_months(day: date, months: int) -> date:
    """
    The day ``months`` later (or earlier) with the same date, or the last day of that month when it has
    none (31 January + 1 = 28 or 29 February).

    :param day: the day.
    :param months: whole months, any sign.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def check_extension(months: object, reason: object) -> int:
    """
    An extension's months, refused unless 1 to :data:`MAX_EXTENSION_MONTHS` with a reason.

    :param months: the months (the request's total extension).
    :param reason: why; art. 12(3) requires the person be told the reasons.
    :raises ValueError: naming the field and the rule.
    """
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValueError(
            f"Invalid parameter 'extension_months': must be a whole number from 1 to {MAX_EXTENSION_MONTHS} "
            "(GDPR art. 12(3): extended by two further months at most)"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(
            "Invalid parameter 'extension_reason': is required (GDPR art. 12(3): the person is told the "
            "reasons for the delay)"
        )
    return months


def overdue_condition(
    deadline: Deadline, now: datetime, placeholder: str, *, extensions: bool
) -> tuple[str, tuple[str, ...]]:
    """
    SQL of a pending request that is overdue at ``now``, with its parameters: one range of the
    ``(status, requested_at)`` index per extension (none, 1, 2 months). An extension outside 0 to
    :data:`MAX_EXTENSION_MONTHS` (written into the table by hand) counts as none.

    :param deadline: the rule.
    :param now: the current time (aware).
    :param placeholder: the driver's parameter placeholder.
    :param extensions: whether the table has ``extension_months`` (a table of 0.3 has not: none counts).
    """
    from airflow_provider_personalize_deletion.erasure.store import sql_timestamp  # store imports this module

    today = now.astimezone(timezone.utc).date()

    def before(months: int) -> str:
        first = deadline.first_on_time(today, months)
        return sql_timestamp(datetime.combine(first, datetime.min.time(), timezone.utc))

    if not extensions:
        return f"requested_at < {placeholder}", (before(0),)
    p = placeholder
    valid = ", ".join(str(months) for months in range(1, MAX_EXTENSION_MONTHS + 1))
    parts = [f"(COALESCE({EXTENSION_MONTHS}, 0) NOT IN ({valid}) AND requested_at < {p})"]
    parts += [
        f"({EXTENSION_MONTHS} = {months} AND requested_at < {p})"
        for months in range(1, MAX_EXTENSION_MONTHS + 1)
    ]
    return "(" + " OR ".join(parts) + ")", tuple(before(months) for months in range(MAX_EXTENSION_MONTHS + 1))


def valid_extension(value: object) -> int:
    """
    A stored extension as the deadline counts it: 1 to :data:`MAX_EXTENSION_MONTHS`, else none (0).

    :param value: the column's value.
    """
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_EXTENSION_MONTHS
        else 0
    )
