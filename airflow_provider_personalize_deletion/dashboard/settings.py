"""
Where the erasure dashboard reads: the warehouse connection, its two tables and the deadline, from the
API server's own configuration, section ``[personalize_deletion]``.

Airflow's execution API lets any running task write any Variable, so whoever can deploy a DAG can
change the Variables; no task can change the API server's configuration (its ``airflow.cfg``, its
environment). The dashboard sends the user ids typed into its lookup to the connection it reads, so
it takes each setting from the option ``dashboard_<setting>`` (:data:`OPTIONS`), else the example
DAG's default. The Variables ``personalize_erasure_<setting>`` fill an option left unset only when
``dashboard_settings_from_variables`` (:data:`FROM_VARIABLES`) is on: off by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from airflow_provider_personalize_deletion.erasure.settings import (
    DEFAULTS,
    VARIABLE_PREFIX,
    WarehouseSettings,
    checked_warehouse_setting,
    resolve_warehouse_settings,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

#: The provider's section of the Airflow configuration.
SECTION = "personalize_deletion"
#: The option of each warehouse setting (environment: ``AIRFLOW__PERSONALIZE_DELETION__DASHBOARD_...``).
OPTIONS = {name: f"dashboard_{name}" for name in WarehouseSettings.__dataclass_fields__}
#: The option that lets the Variables fill the options left unset.
FROM_VARIABLES = "dashboard_settings_from_variables"
#: The texts of a boolean option, as Airflow's ``conf.getboolean`` reads them.
_BOOLEANS = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}


def get_option(option: str) -> str | None:
    """
    An option of the provider's section of this process's Airflow configuration; None when not set.

    :param option: the option, e.g. ``dashboard_deadline``.
    """
    from airflow.configuration import conf

    return conf.get(SECTION, option, fallback=None)


def dashboard_settings(
    get_option: Callable[[str], str | None], get_variable: Callable[[str], Any | None]
) -> WarehouseSettings:
    """
    The warehouse settings of the dashboard: each option set in ``[personalize_deletion]``; for an
    option left unset its Variable when :data:`FROM_VARIABLES` is on, else the example DAG's default.

    :param get_option: returns an option of the section as text, or None when not set.
    :param get_variable: returns a Variable's (JSON-decoded) value, or None when not set; not called
        unless :data:`FROM_VARIABLES` is on, and never for a setting its option sets.
    :raises PersonalizeValidationError: naming the option (or, for a Variable, the setting) and the
        rule, never the value.
    """
    configured = {
        name: _configured(name, text)
        for name, option in OPTIONS.items()
        if (text := (get_option(option) or "").strip())
    }
    from_variables = _flag(FROM_VARIABLES, get_option(FROM_VARIABLES))

    def unconfigured_variable(key: str) -> Any | None:
        if not from_variables or key.removeprefix(VARIABLE_PREFIX) in configured:
            return None
        return get_variable(key)

    return replace(resolve_warehouse_settings(unconfigured_variable), **configured)


def _configured(name: str, text: str) -> Any:
    """The value of the option of the setting ``name``, checked as its Variable is."""
    value: Any = text
    if isinstance(DEFAULTS[name], int) and text.isascii() and text.isdigit():
        value = int(text)
    try:
        return checked_warehouse_setting(name, value)
    except PersonalizeValidationError as error:
        raise PersonalizeValidationError(f"[{SECTION}] {OPTIONS[name]}", error.rule) from None


def _flag(option: str, text: str | None) -> bool:
    """A boolean option; off when not set."""
    value = _BOOLEANS.get((text or "").strip().lower() or "false")
    if value is None:
        raise PersonalizeValidationError(f"[{SECTION}] {option}", "must be True or False")
    return value
