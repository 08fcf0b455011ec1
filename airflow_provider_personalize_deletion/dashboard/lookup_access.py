"""
Who may look a person up: a permission of its own, never implied by reading the example DAG's runs.

The lookup routes ask the auth manager for the custom view :data:`LOOKUP_RESOURCE` with the method
``POST`` (``is_authorized_custom_view``), on top of the app's read of the DAG's runs: an auth manager
with roles and permissions (FAB, Keycloak) grants it to the roles an administrator chose.

SimpleAuthManager grants every custom view to every role from viewer up, so for it the permission is
a role list instead: the option ``[personalize_deletion] dashboard_lookup_roles`` (:data:`ROLES_OPTION`,
comma-separated role names), ``admin`` when unset. A viewer is refused unless it names ``viewer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import HTTPException

from airflow_provider_personalize_deletion.dashboard.settings import SECTION
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

#: The custom view an auth manager authorizes a lookup against.
LOOKUP_RESOURCE = "PersonalizeErasureLookup"
#: The method of that custom view a lookup needs.
LOOKUP_METHOD = "POST"
#: The option of SimpleAuthManager's roles that may look up.
ROLES_OPTION = "dashboard_lookup_roles"
#: The roles that may look up under SimpleAuthManager when the option is unset.
DEFAULT_ROLES = frozenset({"ADMIN"})
#: SimpleAuthManager's roles (its ``SimpleAuthManagerRole`` names).
SIMPLE_ROLES = frozenset({"VIEWER", "USER", "OP", "ADMIN"})


def lookup_roles(get_option: Callable[[str], str | None]) -> frozenset[str]:
    """
    The SimpleAuthManager roles that may look up.

    :param get_option: returns an option of ``[personalize_deletion]``, None when unset.
    :raises PersonalizeValidationError: a name that is no SimpleAuthManager role (the names are roles,
        not secrets: the rule lists them).
    """
    text = (get_option(ROLES_OPTION) or "").strip()
    if not text:
        return DEFAULT_ROLES
    roles = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    if not roles or not roles <= SIMPLE_ROLES:
        raise PersonalizeValidationError(
            f"[{SECTION}] {ROLES_OPTION}",
            f"must be a comma-separated list of {', '.join(sorted(role.lower() for role in SIMPLE_ROLES))}",
        )
    return roles


def may_look_up(auth_manager: Any, user: Any, get_option: Callable[[str], str | None]) -> bool:
    """
    Whether ``user`` may look a person up.

    :param auth_manager: the API server's auth manager.
    :param user: the caller.
    :param get_option: returns an option of ``[personalize_deletion]``, None when unset.
    """
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    if isinstance(auth_manager, SimpleAuthManager):
        role = getattr(user, "role", None)
        return isinstance(role, str) and role.upper() in lookup_roles(get_option)
    return bool(
        auth_manager.is_authorized_custom_view(method=LOOKUP_METHOD, resource_name=LOOKUP_RESOURCE, user=user)
    )


def refuse_unless_may_look_up(auth_manager: Any, user: Any, get_option: Callable[[str], str | None]) -> None:
    """
    :raises HTTPException: 403 naming the permission, when ``user`` may not look up.
    """
    if not may_look_up(auth_manager, user, get_option):
        raise HTTPException(
            403,
            f"Looking a person up needs its own permission: the custom view {LOOKUP_RESOURCE!r} "
            f"({LOOKUP_METHOD}); under SimpleAuthManager a role of [{SECTION}] {ROLES_OPTION}",
        )


__all__: Sequence[str] = ("LOOKUP_RESOURCE", "lookup_roles", "may_look_up", "refuse_unless_may_look_up")
