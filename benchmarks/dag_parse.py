"""
DAG-parse benchmark: what the DAG processor pays, every parse, for ``dags/personalize_gdpr_erasure.py``.

Baseline: ``benchmarks/baseline_dags/amazon_provider_erasure.py``, the same shape built only from the
Amazon provider's operators (SQL to S3, a mapped Comprehend job, a mapped deferrable sensor, the
same Python steps).

Each parse runs in a fresh process, as the DAG processor's parsing child does: Airflow and the
processor's own modules are imported first, then the clock measures ``BundleDagBag`` loading the
file and ``DagSerialization`` serialising its DAG (the file's imports included). The whole process's
wall time is shown too. After the parse, the worker lists the heavy libraries in ``sys.modules``
that the parse imported. Then, each in a fresh process after ``import airflow.sdk``, the import time
of every module the two DAG files load.

Run: ``.venv/bin/python benchmarks/dag_parse.py [--quick] [--repetitions 9]``
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

# Only light modules before the measured parse: _common imports neither boto3 nor Airflow.
from _common import (
    REPO,
    argument_parser,
    emit_result,
    machine_description,
    markdown_table,
    median,
    ratio,
    run_worker,
)

DAGS = {
    "ours": REPO / "dags" / "personalize_gdpr_erasure.py",
    "baseline": Path(__file__).resolve().parent / "baseline_dags" / "amazon_provider_erasure.py",
}
REPETITIONS = 9
QUICK_REPETITIONS = 3
HEAVY_LIBRARIES = (
    "pandas",
    "numpy",
    "pyarrow",
    "polars",
    "sqlalchemy",
    "psycopg2",
    "boto3",
    "botocore",
    "aiobotocore",
    "aiohttp",
    "moto",
    "werkzeug",
    "jmespath",
)
PROVIDER_MODULES = {
    "ours": (
        "airflow_provider_personalize_deletion.operators.personalize",
        "airflow_provider_personalize_deletion.sensors.personalize",
        "airflow_provider_personalize_deletion.transfers.sql_to_s3",
        "airflow_provider_personalize_deletion.hooks.personalize",
        "airflow_provider_personalize_deletion.triggers.personalize",
        "airflow_provider_personalize_deletion.links.personalize",
        "airflow_provider_personalize_deletion.erasure.steps",
    ),
    "baseline": (
        "airflow.providers.amazon.aws.transfers.sql_to_s3",
        "airflow.providers.amazon.aws.operators.comprehend",
        "airflow.providers.amazon.aws.sensors.comprehend",
        "airflow.providers.amazon.aws.hooks.comprehend",
        "airflow.providers.amazon.aws.triggers.comprehend",
    ),
}


def parse_worker(dag_file: str) -> dict[str, Any]:
    """
    Parse one DAG file as the DAG processor's child does, and time it.

    :param dag_file: the DAG file.
    :return: the parse time, the DAG ids, and the heavy libraries the parse imported.
    """
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.serialization.serialized_objects import DagSerialization

    loaded_before = set(sys.modules)
    started = time.perf_counter()
    bag = BundleDagBag(
        dag_folder=dag_file, bundle_path=Path(dag_file).parent, bundle_name="benchmark", load_op_links=False
    )
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    parse_seconds = time.perf_counter() - started
    if bag.import_errors or not bag.dags:
        raise RuntimeError(f"{dag_file} did not parse: {bag.import_errors}")
    imported = set(sys.modules) - loaded_before
    return {
        "parse_seconds": parse_seconds,
        "dag_ids": sorted(bag.dag_ids),
        "modules_imported": len(imported),
        "heavy_imported": [name for name in HEAVY_LIBRARIES if name in imported],
        "heavy_loaded": [name for name in HEAVY_LIBRARIES if name in sys.modules],
    }


def import_worker(module: str) -> dict[str, Any]:
    """
    Time the import of one module after ``airflow.sdk``, which every DAG file imports first.

    :param module: the dotted module name.
    """
    import airflow.sdk  # noqa: F401

    started = time.perf_counter()
    importlib.import_module(module)
    return {"import_seconds": time.perf_counter() - started}


WORKERS = {
    "parse": lambda args: parse_worker(args["dag_file"]),
    "import": lambda args: import_worker(args["module"]),
}


def timed_worker(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """
    Run a worker and add the wall time of its whole process, start-up included.

    :param name: ``parse`` or ``import``.
    :param args: the worker's arguments.
    """
    started = time.perf_counter()
    result = run_worker(__file__, name, args)
    return {**result, "process_seconds": time.perf_counter() - started}


def measure_parses(repetitions: int) -> dict[str, list[dict[str, Any]]]:
    """
    Parse each DAG ``repetitions`` times, alternating, each in a fresh process.

    :param repetitions: parses of each DAG.
    """
    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in DAGS}
    for _ in range(repetitions):
        for variant, dag_file in DAGS.items():
            results[variant].append(timed_worker("parse", {"dag_file": str(dag_file)}))
    return results


def measure_imports(repetitions: int) -> list[tuple[str, str, float]]:
    """
    Time the import of each provider module, median of ``repetitions`` fresh processes.

    :param repetitions: imports of each module.
    :return: ``(variant, module, median seconds)`` rows.
    """
    rows = []
    for variant, modules in PROVIDER_MODULES.items():
        for module in modules:
            times = [timed_worker("import", {"module": module})["import_seconds"] for _ in range(repetitions)]
            rows.append((variant, module, median(times)))
    return rows


def report(parses: dict[str, list[dict[str, Any]]], imports: list[tuple[str, str, float]]) -> str:
    """
    Format the parse figures, the ratio, the heavy libraries and the import times as Markdown.

    :param parses: each variant's parse results.
    :param imports: ``(variant, module, seconds)`` rows.
    """
    parse = {variant: median([r["parse_seconds"] for r in results]) for variant, results in parses.items()}
    process = {
        variant: median([r["process_seconds"] for r in results]) for variant, results in parses.items()
    }
    rows = [
        (
            variant,
            DAGS[variant].relative_to(REPO),
            f"{parse[variant] * 1000:,.0f}",
            f"{process[variant] * 1000:,.0f}",
            results[0]["modules_imported"],
            ", ".join(results[0]["heavy_imported"]) or "none",
        )
        for variant, results in parses.items()
    ]
    headers = (
        "DAG",
        "file",
        "parse + serialise ms (median)",
        "fresh process ms (median)",
        "modules the parse imports",
        "heavy libraries the parse imports",
    )
    lines = [
        markdown_table(headers, rows),
        "",
        f"Parse ratio ours / baseline: {ratio(parse['ours'], parse['baseline'])} (target <= 1.0); "
        f"whole process: {ratio(process['ours'], process['baseline'])}.",
        "",
        markdown_table(
            ("DAG", "module", "import ms after airflow.sdk (median)"),
            [(variant, module, f"{seconds * 1000:,.0f}") for variant, module, seconds in imports],
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--repetitions", type=int, help="fresh processes per DAG and module (default 9; quick 3)"
    )
    options = parser.parse_args()
    if options.worker:
        emit_result(WORKERS[options.worker](json.loads(options.worker_args)))
        return
    repetitions = options.repetitions or (QUICK_REPETITIONS if options.quick else REPETITIONS)
    print(machine_description(), flush=True)
    parses = measure_parses(repetitions)
    imports = measure_imports(max(1, repetitions // 3))
    print(f"\n{repetitions} fresh processes per DAG.\n")
    print(report(parses, imports))


if __name__ == "__main__":
    main()
