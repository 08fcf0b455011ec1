"""What parsing the example DAG imports: only what building the DAG needs, never what a run needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "personalize_gdpr_erasure.py"

#: Modules only a run uses: the DAG processor imports the DAG file at every parse, and each of these
#: would add its import to every parse (see benchmarks/dag_parse.py).
RUN_TIME_ONLY = (
    "airflow_provider_personalize_deletion.deletion_file.builder",
    "airflow_provider_personalize_deletion.deletion_file.fingerprint",
    "airflow_provider_personalize_deletion.deletion_file.sorted_runs",
    "airflow_provider_personalize_deletion.erasure.runtime",
    "airflow_provider_personalize_deletion.erasure.settings",
    "airflow_provider_personalize_deletion.erasure.steps",
    "airflow_provider_personalize_deletion.erasure.store",
    "airflow_provider_personalize_deletion.hooks.activity",
    "airflow_provider_personalize_deletion.transfers.parameters",
    "airflow_provider_personalize_deletion.transfers.s3_upload",
    "airflow_provider_personalize_deletion.transfers.sql_cursor",
    "airflow_provider_personalize_deletion.triggers.client_pool",
    "airflow_provider_personalize_deletion.utils.json_safe",
    "airflow_provider_personalize_deletion.utils.redaction",
    "airflow_provider_personalize_deletion.utils.service_model",
    "airflow.providers.standard.triggers.temporal",
    "pandas",
)

LOAD_DAG_FILE = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("erasure_dag", {str(DAG_FILE)!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(sys.modules)))
"""


def test_parsing_the_example_dag_imports_none_of_the_modules_only_a_run_uses():
    done = subprocess.run([sys.executable, "-c", LOAD_DAG_FILE], capture_output=True, text=True, check=True)
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "airflow_provider_personalize_deletion.operators.personalize" in imported
    assert sorted(imported.intersection(RUN_TIME_ONLY)) == []
