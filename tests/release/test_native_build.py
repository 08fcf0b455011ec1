"""
The scan's native pre-filter in the built wheel (``hatch_build.py``): a wheel built from the sdist holds
the compiled module and not its C source; without a working C compiler (``CC``), or with
``PERSONALIZE_DELETION_PURE_PYTHON``, the build falls back to a pure ``py3-none-any`` wheel. Each wheel
is installed into a virtualenv of its own (with numpy, the scan's one dependency for this check) and
scans a small CSV: on the native path with the module, on the Python path without it, alike.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.release.test_wheel_install import PACKAGE, _run, _uv

pytestmark = pytest.mark.release

REPO = Path(__file__).resolve().parents[2]
MODULE = f"{PACKAGE}/scan/_native" + sysconfig.get_config_var("EXT_SUFFIX")
SOURCE = f"{PACKAGE}/scan/_native.c"
#: Scans a CSV of three records, one of them suppressed; prints the path, records pre-filtered, matches.
SCAN = """
import hmac
from airflow_provider_personalize_deletion.scan.csv_records import CsvRecordReader
from airflow_provider_personalize_deletion.scan.native import scan_path
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

key = b"k" * 32
users = SuppressedUsers(key, [hmac.digest(key, b"u2", "sha256")])
reader = CsvRecordReader([b"USER_ID,ITEM_ID\\nu1,i\\nu2,i\\nu3,i\\n"], "s3://b/k", users.csv_prefilter())
matches = sum(int(users.matches(block.user_ids).sum()) for block in reader)
print(scan_path(), reader.prefiltered_records, matches)
"""
CAN_COMPILE = bool(shutil.which(sysconfig.get_config_var("CC").split()[0])) and any(
    Path(include, "openssl", "sha.h").is_file() for include in ("/usr/include", "/usr/local/include")
)


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    _run([_uv(), "build", "--sdist", "--out-dir", str(out)], cwd=REPO)
    (built,) = out.glob("*.tar.gz")
    return built


def build_wheel(sdist: Path, out: Path, **env: str) -> Path:
    """The wheel built from ``sdist`` with the given environment variables set (and no others of ours)."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CC", "PERSONALIZE_DELETION_PURE_PYTHON")
    }
    _run([_uv(), "build", "--wheel", "--out-dir", str(out), str(sdist)], env={**environ, **env})
    (wheel,) = out.glob("*.whl")
    return wheel


def scan_with(wheel: Path, venv: Path) -> str:
    """Install ``wheel`` (and numpy) into a new virtualenv and run :data:`SCAN` there."""
    uv = _uv()
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    _run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "--no-deps",
            str(wheel),
            f"numpy=={np.__version__}",
        ]
    )
    return _run([python, "-c", SCAN], cwd=venv).stdout.strip()


@pytest.mark.skipif(not CAN_COMPILE, reason="no C compiler or no OpenSSL headers on this machine")
def test_the_wheel_built_from_the_sdist_holds_the_compiled_module_and_scans_on_it(sdist, tmp_path):
    wheel = build_wheel(sdist, tmp_path / "dist")
    tag = "cp{}{}".format(*sys.version_info[:2])
    assert wheel.name.endswith(f"-{tag}-{tag}-linux_x86_64.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert MODULE in names
    assert SOURCE not in names
    assert scan_with(wheel, tmp_path / "venv") == "native 3 1"


@pytest.mark.parametrize(
    "env",
    [{"CC": "/bin/false"}, {"CC": "/no/such/compiler"}, {"PERSONALIZE_DELETION_PURE_PYTHON": "1"}],
    ids=["compiler-fails", "no-compiler", "pure-python-asked"],
)
def test_without_a_compiler_the_wheel_is_pure_and_scans_on_the_python_path(sdist, tmp_path, env):
    wheel = build_wheel(sdist, tmp_path / "dist", **env)
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if "_native" in name]
    assert scan_with(wheel, tmp_path / "venv") == "python 0 1"
