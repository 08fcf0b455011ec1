"""The dashboard's plugin: how Airflow finds it (installing the provider is enough), and what it adds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_personalize_deletion import get_provider_info
from airflow_provider_personalize_deletion.dashboard.plugin import (
    PLUGIN_NAME,
    URL_PREFIX,
    ErasureDashboardPlugin,
)


def test_the_provider_info_names_the_plugin_class():
    (plugin,) = get_provider_info()["plugins"]
    module, _, name = plugin["plugin-class"].rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is ErasureDashboardPlugin
    assert plugin["name"] == ErasureDashboardPlugin.name == PLUGIN_NAME


@pytest.mark.parametrize("lazy_discovery", [True, False], ids=["default-lazy-discovery", "eager-discovery"])
def test_airflow_loads_the_plugin_once_whatever_its_provider_discovery(monkeypatch, lazy_discovery):
    from airflow import plugins_manager, settings

    monkeypatch.setattr(settings, "LAZY_LOAD_PROVIDERS", lazy_discovery)
    plugins, import_errors = plugins_manager._get_plugins.__wrapped__()

    assert [plugin.name for plugin in plugins].count(PLUGIN_NAME) == 1
    assert not [source for source in import_errors if "personalize" in source or PLUGIN_NAME in source]


def test_it_adds_an_erasure_navigation_entry_and_a_dag_run_tab_on_its_app():
    views = {view["destination"]: view for view in ErasureDashboardPlugin.external_views}
    assert views["nav"]["name"] == "Erasure"
    assert views["nav"]["href"] == f"{URL_PREFIX}/"
    assert views["dag_run"]["href"].startswith(f"{URL_PREFIX}/?")
    assert "{RUN_ID}" in views["dag_run"]["href"] and "{DAG_ID}" in views["dag_run"]["href"]
    assert len({view["url_route"] for view in views.values()}) == 2  # a route taken twice is dropped
    (app,) = ErasureDashboardPlugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX


def test_importing_the_plugin_imports_no_api_server_code():
    # Task runners load plugins too: the app and Airflow's API security are imported on first request.
    code = (
        "import sys\n"
        "import airflow_provider_personalize_deletion.dashboard.plugin\n"
        "loaded = [m for m in ('airflow.api_fastapi.core_api.security', "
        "'airflow_provider_personalize_deletion.dashboard.api', 'fastapi') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
