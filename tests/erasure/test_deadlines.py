"""Due dates as GDPR art. 12(3) counts them (a calendar month, Regulation 1182/71), and the days rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.erasure.deadlines import (
    CALENDAR_MONTH,
    DAYS,
    Deadline,
    add_months,
    check_extension,
)

MONTH = Deadline(CALENDAR_MONTH)


@pytest.mark.parametrize(
    ("received", "extension", "due"),
    [
        (date(2026, 1, 15), 0, date(2026, 2, 15)),
        (date(2026, 1, 31), 0, date(2026, 2, 28)),  # February has no 31st: its last day
        (date(2028, 1, 31), 0, date(2028, 2, 29)),  # a leap year
        (date(2028, 2, 29), 0, date(2028, 3, 29)),
        (date(2026, 2, 28), 0, date(2026, 3, 28)),  # not the end of March: the same date
        (date(2026, 3, 31), 0, date(2026, 4, 30)),
        (date(2026, 12, 31), 0, date(2027, 1, 31)),  # across the year
        (date(2026, 1, 31), 2, date(2026, 4, 30)),  # 1 + 2 months from receipt
        (date(2027, 11, 30), 2, date(2028, 2, 29)),  # extended into a leap February
        (date(2026, 11, 30), 2, date(2027, 2, 28)),
        (date(2026, 1, 31), 1, date(2026, 3, 31)),  # counted from receipt, not from 28 February
    ],
)
def test_a_calendar_month_ends_on_the_same_date_or_the_last_day_of_a_shorter_month(received, extension, due):
    assert MONTH.due_on(received, extension) == due


def test_the_due_moment_is_the_end_of_the_last_day_in_utc():
    received = datetime(2026, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))  # 31 January, 23:30 UTC

    due = MONTH.due_at(received)

    assert due == datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=timezone.utc)


def test_the_days_rule_counts_days_and_an_extension_adds_calendar_months():
    ccpa = Deadline(DAYS, 45)

    assert ccpa.due_on(date(2026, 1, 1)) == date(2026, 2, 15)
    assert ccpa.due_on(date(2026, 1, 1), 1) == date(2026, 3, 15)


@pytest.mark.parametrize("deadline", [MONTH, Deadline(DAYS, 30), Deadline(DAYS, 1)])
@pytest.mark.parametrize("extension", [0, 1, 2])
def test_the_first_day_on_time_splits_the_requests_exactly_where_their_due_date_does(deadline, extension):
    # Every day of two years, a leap February included, against every day of receipt around it.
    for offset in range(0, 730, 3):
        today = date(2027, 1, 1) + timedelta(days=offset)
        first = deadline.first_on_time(today, extension)
        for back in range(0, 130):
            received = today - timedelta(days=back)
            overdue = deadline.due_on(received, extension) < today
            assert overdue == (received < first), (today, received)


def test_add_months_goes_back_as_well():
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), -13) == date(2024, 12, 15)


@pytest.mark.parametrize("months", [0, 3, -1, True, "2", 1.5])
def test_an_extension_outside_one_or_two_months_is_refused_naming_the_field(months):
    with pytest.raises(ValueError, match=r"'extension_months': must be a whole number from 1 to 2"):
        check_extension(months, "complex request")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_extension_without_a_reason_is_refused_naming_the_field(reason):
    with pytest.raises(ValueError, match=r"'extension_reason': is required"):
        check_extension(2, reason)


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="'deadline': must be one of calendar_month, days"):
        Deadline("weeks")
