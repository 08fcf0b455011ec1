"""
The erasure dashboard's Airflow plugin: a FastAPI app in the API server, a navigation entry "Erasure"
and a tab "Erasure" on DAG runs, both showing the app's page inside Airflow's UI.

Airflow finds the plugin through the provider info (``plugins``), which it reads only when
``[core] lazy_discover_providers`` is off, and through the ``airflow.plugins`` entry point, which it
always reads: :data:`ENTRY_POINT_PLUGIN` is the plugin only when Airflow does not load it from the
provider info, so that installing the provider is enough and the plugin is loaded once either way.

This module is imported by every Airflow process that loads plugins (task runners too), so it
imports no more than the plugin needs: the app and its dependencies are imported on its first
request.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

#: Where the API server mounts the dashboard's app.
URL_PREFIX = "/personalize-erasure"
#: The name of the plugin (``airflow plugins`` lists it).
PLUGIN_NAME = "personalize_erasure_dashboard"


class LazyDashboardApp:
    """
    The dashboard's FastAPI app (:func:`.api.create_app`), built on its first request.

    An ASGI app, so the API server mounts it like any FastAPI app.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_provider_personalize_deletion.dashboard.api import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class ErasureDashboardPlugin(AirflowPlugin):
    """The erasure dashboard: requests, deadlines, runs and evidence of the example DAG's erasures."""

    name = PLUGIN_NAME
    fastapi_apps = [{"app": LazyDashboardApp(), "url_prefix": URL_PREFIX, "name": "Erasure dashboard"}]
    external_views = [
        {
            "name": "Erasure",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "erasure",
            "icon": f"{URL_PREFIX}/static/icon.svg",
            "nav_top_level": True,
        },
        {
            # Airflow 3.3 shows a dag_run tab on every DAG's runs; the page says when a run is not
            # the erasure DAG's.
            "name": "Erasure",
            "href": f"{URL_PREFIX}/?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "erasure-run",
            "icon": f"{URL_PREFIX}/static/icon.svg",
        },
    ]


def __getattr__(name: str) -> Any:
    """:data:`ENTRY_POINT_PLUGIN`: the plugin, or None when Airflow loads it from the provider info."""
    if name == "ENTRY_POINT_PLUGIN":
        from airflow import settings

        return ErasureDashboardPlugin if settings.LAZY_LOAD_PROVIDERS else None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
