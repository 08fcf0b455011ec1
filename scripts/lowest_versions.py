"""
Constraints that hold every runtime dependency of the project to the release series of its declared floor.

``make test-lowest`` resolves the project with ``uv pip compile --resolution lowest-direct`` and these
constraints, installs the result into ``.venv-lowest`` and runs the core, trigger and transfer tests there.

Why not ``lowest-direct`` alone: it lowers the direct dependencies only as far as the transitive ones,
resolved at their highest, let them. ``boto3>=1.37`` resolved to 1.43 because the newest aiobotocore pins
botocore 1.43, so the floor was never tested (and was wrong: the Amazon provider needs boto3 1.41).
With ``boto3>=1.41`` here the constraint is ``boto3==1.41.*``: the resolver must find a world with a
boto3 1.41 (and an older aiobotocore) or fail, naming the floor that cannot hold.

Usage: ``python scripts/lowest_versions.py [PYPROJECT] > constraints.txt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def floor_constraints(pyproject: Path = PYPROJECT) -> list[str]:
    """
    Return one ``name==FLOOR.*`` line per runtime dependency of ``pyproject``.

    :param pyproject: the project's ``pyproject.toml``.
    :raises ValueError: a dependency without a ``>=`` floor (every one must declare what it needs).
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise ValueError(f"dependency {requirement.name!r} must declare exactly one '>=' floor")
        lines.append(f"{requirement.name}=={floors[0]}.*")
    return lines


if __name__ == "__main__":
    print("\n".join(floor_constraints(Path(sys.argv[1]) if len(sys.argv) > 1 else PYPROJECT)))
