"""
The example erasure DAG, shipped in the wheel, and ``personalize-deletion-example-dag``, which copies it
into a dags folder.

The wheel holds ``dags/personalize_gdpr_erasure.py`` of the repository as
``example_dags/personalize_gdpr_erasure.py`` beside this module (hatch ``force-include``: one file, no
copy in the repository). In a checkout (an editable install) the file is found in the repository's
``dags/`` folder instead.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

#: The example DAG's file name, in the wheel and in the repository's ``dags/`` folder.
DAG_FILE = "personalize_gdpr_erasure.py"


def example_dag_path() -> Path:
    """
    Return the example DAG's file: the wheel's copy, or in a checkout the repository's ``dags/`` file.

    :raises FileNotFoundError: neither is there (a broken installation).
    """
    shipped = Path(__file__).with_name(DAG_FILE)
    if shipped.is_file():
        return shipped
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "dags" / DAG_FILE
        if (folder / "pyproject.toml").is_file() and candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the example DAG {DAG_FILE} is missing from this installation")


def install_example_dag(dags_folder: Path, force: bool = False) -> Path:
    """
    Copy the example DAG into ``dags_folder`` and return the file written.

    :param dags_folder: an existing folder Airflow reads DAGs from (``airflow config get-value core
        dags_folder``).
    :param force: replace a file of the same name; without it an existing file is left untouched.
    :raises NotADirectoryError: ``dags_folder`` is not an existing folder.
    :raises FileExistsError: the file exists and ``force`` is false.
    """
    if not dags_folder.is_dir():
        raise NotADirectoryError(f"DAGS_FOLDER must be an existing folder: {dags_folder}")
    target = dags_folder / DAG_FILE
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists: left untouched (--force replaces it)")
    shutil.copyfile(example_dag_path(), target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """
    ``personalize-deletion-example-dag DAGS_FOLDER [--force]``: install the example DAG, print where.

    :param argv: the command line arguments; None reads ``sys.argv``.
    :return: 0 on success, 1 when the folder is missing or the file exists (without ``--force``).
    """
    parser = argparse.ArgumentParser(
        prog="personalize-deletion-example-dag",
        description=f"Copy the example erasure DAG ({DAG_FILE}) into an Airflow dags folder.",
        epilog="Airflow's dags folder: `airflow config get-value core dags_folder`.",
    )
    parser.add_argument("dags_folder", type=Path, metavar="DAGS_FOLDER", help="an existing dags folder")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    args = parser.parse_args(argv)
    try:
        target = install_example_dag(args.dags_folder, args.force)
    except (NotADirectoryError, FileExistsError) as error:
        print(f"personalize-deletion-example-dag: {error}", file=sys.stderr)
        return 1
    print(f"Example DAG written to {target}")
    return 0
