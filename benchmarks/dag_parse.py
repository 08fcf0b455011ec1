"""
DAG-parse benchmark: what the DAG processor pays, every parse, for ``dags/personalize_gdpr_erasure.py``.

Baseline: ``benchmarks/baseline_dags/amazon_provider_erasure.py``, the same shape built only from the
Amazon provider's operators (SQL to S3, a mapped Comprehend job, a mapped deferrable sensor, the
same Python steps).

Each parse runs in a fresh process, as the DAG processor's parsing child does: Airflow and the
processor's own modules are imported first, then the clock measures ``BundleDagBag`` loading the
file and ``DagSerialization`` serialising its DAG (the file's imports included), in wall time and in
the process's CPU time (less disturbed when other processes share the cores). The whole process's
wall time is shown too. The two DAGs alternate; besides the medians, the ratio of each pair (the
parses made one after the other) is summarised, and how many pairs favour ours. After the parse, the
worker lists the heavy libraries in ``sys.modules`` that the parse imported. Then, each in a fresh
process after ``import airflow.sdk``, the import time of every module the two DAG files load.

Bytecode: a DAG processor reads the modules it imports from cached bytecode (``__pycache__``, written
by the first import or at install), unless ``PYTHONDONTWRITEBYTECODE`` is set and nothing was
compiled beforehand; then every parse compiles every module, Airflow's included, from source. Both
are measured (``--bytecode``): ``cached`` gives the workers a private ``PYTHONPYCACHEPREFIX`` filled by
one parse of each DAG first; ``none`` sets ``PYTHONDONTWRITEBYTECODE`` and no cache.

Run: ``.venv/bin/python benchmarks/dag_parse.py [--quick] [--repetitions 9] [--bytecode both]``
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import tempfile
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
    started, cpu_started = time.perf_counter(), time.process_time()
    bag = BundleDagBag(
        dag_folder=dag_file, bundle_path=Path(dag_file).parent, bundle_name="benchmark", load_op_links=False
    )
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    parse_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if bag.import_errors or not bag.dags:
        raise RuntimeError(f"{dag_file} did not parse: {bag.import_errors}")
    imported = set(sys.modules) - loaded_before
    return {
        "parse_seconds": parse_seconds,
        "cpu_seconds": cpu_seconds,
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


#: The bytecode modes: the environment of their workers (see the module's docstring).
BYTECODE_MODES = ("cached", "none")


def bytecode_env(mode: str, cache_dir: str) -> dict[str, str]:
    """
    The workers' environment for a bytecode mode.

    :param mode: ``cached`` or ``none``.
    :param cache_dir: the private bytecode cache of ``cached``.
    """
    if mode == "cached":
        return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": cache_dir}
    return {"PYTHONDONTWRITEBYTECODE": "1"}


def timed_worker(name: str, args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """
    Run a worker and add the wall time of its whole process, start-up included.

    :param name: ``parse`` or ``import``.
    :param args: the worker's arguments.
    :param env: the bytecode environment, from :func:`bytecode_env`.
    """
    started = time.perf_counter()
    result = run_worker(__file__, name, args, env)
    return {**result, "process_seconds": time.perf_counter() - started}


def measure_parses(repetitions: int, env: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """
    Parse each DAG ``repetitions`` times, alternating, each in a fresh process.

    :param repetitions: parses of each DAG.
    :param env: the bytecode environment, from :func:`bytecode_env`.
    """
    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in DAGS}
    for _ in range(repetitions):
        for variant, dag_file in DAGS.items():
            results[variant].append(timed_worker("parse", {"dag_file": str(dag_file)}, env))
    return results


def measure_imports(repetitions: int, env: dict[str, str]) -> list[tuple[str, str, float]]:
    """
    Time the import of each provider module, median of ``repetitions`` fresh processes.

    :param repetitions: imports of each module.
    :param env: the bytecode environment, from :func:`bytecode_env`.
    :return: ``(variant, module, median seconds)`` rows.
    """
    rows = []
    for variant, modules in PROVIDER_MODULES.items():
        for module in modules:
            times = [
                timed_worker("import", {"module": module}, env)["import_seconds"] for _ in range(repetitions)
            ]
            rows.append((variant, module, median(times)))
    return rows


def pair_ratios(parses: dict[str, list[dict[str, Any]]], figure: str) -> list[float]:
    """
    The ratio ours / baseline of each pair of parses made one after the other.

    :param parses: each variant's parse results, in the order they ran.
    :param figure: ``parse_seconds`` or ``cpu_seconds``.
    """
    return [
        ours[figure] / base[figure] for ours, base in zip(parses["ours"], parses["baseline"], strict=True)
    ]


def report(mode: str, parses: dict[str, list[dict[str, Any]]], imports: list[tuple[str, str, float]]) -> str:
    """
    Format the parse figures, the ratios, the heavy libraries and the import times as Markdown.

    :param mode: the bytecode mode.
    :param parses: each variant's parse results.
    :param imports: ``(variant, module, seconds)`` rows.
    """

    def medians(figure: str) -> dict[str, float]:
        return {variant: median([r[figure] for r in results]) for variant, results in parses.items()}

    parse, cpu, process = medians("parse_seconds"), medians("cpu_seconds"), medians("process_seconds")
    rows = [
        (
            variant,
            DAGS[variant].relative_to(REPO),
            f"{parse[variant] * 1000:,.0f}",
            f"{cpu[variant] * 1000:,.0f}",
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
        "CPU ms (median)",
        "fresh process ms (median)",
        "modules the parse imports",
        "heavy libraries the parse imports",
    )
    lines = [
        f"Bytecode {mode}: {len(parses['ours'])} fresh processes per DAG.",
        "",
        markdown_table(headers, rows),
        "",
    ]
    for label, figure, medians_of in (("wall", "parse_seconds", parse), ("CPU", "cpu_seconds", cpu)):
        pairs = pair_ratios(parses, figure)
        quartiles = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else [pairs[0]] * 3
        of_medians = ratio(medians_of["ours"], medians_of["baseline"])
        lines.append(
            f"Parse ratio ours / baseline ({label} time): medians {of_medians}"
            f" (target <= 1.0); pairs: median {median(pairs):.3f}x, quartiles {quartiles[0]:.3f}x to"
            f" {quartiles[2]:.3f}x, ours faster in {sum(p < 1 for p in pairs)} of {len(pairs)}."
        )
    lines.append(f"Whole process: {ratio(process['ours'], process['baseline'])}.")
    if imports:
        lines += [
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
    parser.add_argument(
        "--import-repetitions", type=int, help="fresh processes per module import (default a third; 0: none)"
    )
    parser.add_argument("--bytecode", choices=(*BYTECODE_MODES, "both"), default="both")
    options = parser.parse_args()
    if options.worker:
        emit_result(WORKERS[options.worker](json.loads(options.worker_args)))
        return
    repetitions = options.repetitions or (QUICK_REPETITIONS if options.quick else REPETITIONS)
    import_repetitions = (
        max(1, repetitions // 3) if options.import_repetitions is None else options.import_repetitions
    )
    modes = BYTECODE_MODES if options.bytecode == "both" else (options.bytecode,)
    print(machine_description(), flush=True)
    with tempfile.TemporaryDirectory(prefix="ppd-bench-pycache-") as cache_dir:
        for mode in modes:
            env = bytecode_env(mode, cache_dir)
            if mode == "cached":  # fill the cache: one parse of each DAG, not counted
                measure_parses(1, env)
            parses = measure_parses(repetitions, env)
            imports = measure_imports(import_repetitions, env) if import_repetitions else []
            print("\n" + report(mode, parses, imports), flush=True)


if __name__ == "__main__":
    main()
