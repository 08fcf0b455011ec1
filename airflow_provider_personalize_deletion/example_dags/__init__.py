"""
The example DAGs, shipped in the wheel, and ``personalize-deletion-example-dag``, which copies them
into a dags folder.

The wheel holds each file of :data:`EXAMPLE_DAGS` from the repository's ``dags/`` folder as
``example_dags/<file>`` beside this module (hatch ``force-include``: one file, no copy in the
repository). In a checkout (an editable install) the files are found in the repository's ``dags/``
folder instead.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

#: The shipped example DAGs: name on the command line -> file name, in the wheel and in ``dags/``.
EXAMPLE_DAGS = {
    "erasure": "personalize_gdpr_erasure.py",
    "verification": "personalize_erasure_verification.py",
    "guarded-import": "personalize_guarded_import.py",
    "forget-backlog": "personalize_forget_backlog.py",
}
#: What the command installs without ``--dag``: the erasure DAG, as before the other two shipped.
DEFAULT_DAG = "erasure"
#: The ``--dag`` value that installs every example DAG.
ALL_DAGS = "all"
#: The erasure DAG's file name.
DAG_FILE = EXAMPLE_DAGS[DEFAULT_DAG]


def example_dag_path(name: str = DEFAULT_DAG) -> Path:
    """
    Return an example DAG's file: the wheel's copy, or in a checkout the repository's ``dags/`` file.

    :param name: a key of :data:`EXAMPLE_DAGS`.
    :raises KeyError: ``name`` is not an example DAG.
    :raises FileNotFoundError: neither file is there (a broken installation).
    """
    file_name = EXAMPLE_DAGS[name]
    shipped = Path(__file__).with_name(file_name)
    if shipped.is_file():
        return shipped
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "dags" / file_name
        if (folder / "pyproject.toml").is_file() and candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the example DAG {file_name} is missing from this installation")


def install_example_dags(
    dags_folder: Path, names: Iterable[str] = (DEFAULT_DAG,), force: bool = False
) -> list[Path]:
    """
    Copy example DAGs into ``dags_folder`` and return the files written; all of them or none.

    :param dags_folder: an existing folder Airflow reads DAGs from (``airflow config get-value core
        dags_folder``).
    :param names: keys of :data:`EXAMPLE_DAGS` (each once, in this order).
    :param force: replace files of the same names; without it, when any exists, nothing is written.
    :raises KeyError: a name is not an example DAG.
    :raises NotADirectoryError: ``dags_folder`` is not an existing folder.
    :raises FileExistsError: a file exists and ``force`` is false (every file is left untouched).
    """
    chosen = list(dict.fromkeys(names))
    sources = {name: example_dag_path(name) for name in chosen}
    if not dags_folder.is_dir():
        raise NotADirectoryError(f"DAGS_FOLDER must be an existing folder: {dags_folder}")
    targets = {name: dags_folder / EXAMPLE_DAGS[name] for name in chosen}
    existing = [str(target) for target in targets.values() if target.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} exist(s): nothing written (--force replaces)")
    for name, target in targets.items():
        shutil.copyfile(sources[name], target)
    return list(targets.values())


def install_example_dag(dags_folder: Path, force: bool = False) -> Path:
    """
    Copy the example erasure DAG into ``dags_folder`` and return the file written.

    :param dags_folder: an existing folder Airflow reads DAGs from.
    :param force: replace a file of the same name; without it an existing file is left untouched.
    :raises NotADirectoryError: ``dags_folder`` is not an existing folder.
    :raises FileExistsError: the file exists and ``force`` is false.
    """
    (target,) = install_example_dags(dags_folder, (DEFAULT_DAG,), force)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """
    ``personalize-deletion-example-dag DAGS_FOLDER [--dag NAME ...] [--force]``: install example DAGs
    (the erasure DAG unless ``--dag`` says otherwise), print where.

    :param argv: the command line arguments; None reads ``sys.argv``.
    :return: 0 on success, 1 when the folder is missing or a file exists (without ``--force``); 2 (from
        argparse) for an unknown ``--dag``.
    """
    parser = argparse.ArgumentParser(
        prog="personalize-deletion-example-dag",
        description="Copy example DAGs of the provider into an Airflow dags folder: "
        + ", ".join(f"{name} ({file})" for name, file in EXAMPLE_DAGS.items())
        + ".",
        epilog="Airflow's dags folder: `airflow config get-value core dags_folder`.",
    )
    parser.add_argument("dags_folder", type=Path, metavar="DAGS_FOLDER", help="an existing dags folder")
    parser.add_argument(
        "--dag",
        action="append",
        choices=[*EXAMPLE_DAGS, ALL_DAGS],
        dest="dags",
        metavar="NAME",
        help=f"which DAG: {', '.join(EXAMPLE_DAGS)} or {ALL_DAGS}; repeat for several "
        f"(default: {DEFAULT_DAG})",
    )
    parser.add_argument("--force", action="store_true", help="replace the files if they exist")
    args = parser.parse_args(argv)
    names = args.dags or [DEFAULT_DAG]
    if ALL_DAGS in names:
        names = list(EXAMPLE_DAGS)
    try:
        targets = install_example_dags(args.dags_folder, names, args.force)
    except (NotADirectoryError, FileExistsError) as error:
        print(f"personalize-deletion-example-dag: {error}", file=sys.stderr)
        return 1
    for target in targets:
        print(f"Example DAG written to {target}")
    return 0
