"""Where the dashboard reads: the example DAG's Variables and defaults, and the example DAG's id."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.erasure.settings import (
    DAG_ID,
    WarehouseSettings,
    resolve_warehouse_settings,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

EXAMPLE_DAG = Path(__file__).resolve().parents[2] / "dags" / "personalize_gdpr_erasure.py"


def test_without_variables_the_dashboard_reads_the_example_dags_default_tables():
    assert resolve_warehouse_settings(lambda key: None) == WarehouseSettings(
        "personalize_erasure_warehouse", "erasure_requests", "erasure_audit", 30
    )


def test_the_dashboard_reads_the_same_variables_as_the_example_dag():
    variables = {
        "personalize_erasure_warehouse_conn_id": "dwh",
        "personalize_erasure_requests_table": "privacy.requests",
        "personalize_erasure_audit_table": "privacy.audit",
        "personalize_erasure_overdue_days": 14,
    }
    assert resolve_warehouse_settings(variables.get) == WarehouseSettings(
        "dwh", "privacy.requests", "privacy.audit", 14
    )


@pytest.mark.parametrize(
    "name, value, field",
    [
        ("requests_table", "requests; DROP TABLE x", "requests_table"),
        ("audit_table", 42, "audit_table"),
        ("overdue_days", 0, "overdue_days"),
    ],
)
def test_a_wrong_variable_is_refused_naming_it_and_never_its_value(name, value, field):
    with pytest.raises(PersonalizeValidationError, match=field) as raised:
        resolve_warehouse_settings({f"personalize_erasure_{name}": value}.get)
    assert "DROP" not in str(raised.value)


def test_the_dashboards_dag_id_is_the_example_dags():
    tree = ast.parse(EXAMPLE_DAG.read_text())
    dag_ids = {
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "dag_id" and isinstance(keyword.value, ast.Constant)
    }
    assert dag_ids == {DAG_ID}
