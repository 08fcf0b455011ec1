"""
The ids a killed export left on the worker's disk: the next export removes its own leftovers older
than ``stale_temp_hours``, and nothing else (not a running export's, not a look-alike).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.deletion_file.sorted_runs import RUN_DIR_PREFIX, SortedRunStore
from tests.transfers.conftest import make_runner

HOUR = 3600
#: A process that writes two sorted runs of ids, prints its directory, then is killed (SIGKILL).
KILLED_EXPORT = """
import os, signal, sys
from airflow_provider_personalize_deletion.deletion_file.sorted_runs import SortedRunStore
store = SortedRunStore(run_size=1)
store.add(b"secret-user-1\\n", 1)
store.add(b"secret-user-2\\n", 1)
print(store._tmp.name, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def temp_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp dir, as every export of the test sees it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def killed_export_dir(temp_dir: Path) -> Path:
    """The directory of ids a killed export process left behind."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_EXPORT],
        env={**os.environ, "TMPDIR": str(temp_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL
    left = Path(done.stdout.strip())
    assert sorted(path.name for path in left.iterdir() if path.name.startswith("run-")) == [
        "run-00000",
        "run-00001",
    ]
    return left


def age(path: Path, hours: float) -> Path:
    """Date a directory and everything in it ``hours`` back."""
    moment = time.time() - hours * HOUR
    for item in [*path.rglob("*"), path]:
        os.utime(item, (moment, moment), follow_symlinks=False)
    return path


@pytest.fixture
def export(sqlite_warehouse, bucket):
    sqlite_warehouse.load(["u1"])
    return make_runner(sqlite_warehouse, bucket)


def test_a_killed_exports_ids_older_than_the_bound_are_removed_at_start(temp_dir, export):
    left = age(killed_export_dir(temp_dir), hours=7)

    export()

    assert not left.exists()
    assert list(temp_dir.glob(f"{RUN_DIR_PREFIX}*")) == []  # the export's own directory is gone too


def test_gnu_sort_temp_files_a_killed_export_left_are_removed_with_its_ids(temp_dir, export):
    left = killed_export_dir(temp_dir)
    (left / "sortXy12Z9").write_bytes(b"secret-user-3\n")  # GNU sort's spill file, its child killed too
    age(left, hours=7)

    export()

    assert not left.exists()


def test_the_bound_is_configurable(temp_dir, export):
    left = age(killed_export_dir(temp_dir), hours=2)

    export()
    assert left.exists()  # younger than the default 6 hours
    export(stale_temp_hours=1)
    assert not left.exists()


def test_a_fresh_leftover_is_kept(temp_dir, export):
    left = killed_export_dir(temp_dir)

    export()

    assert left.exists()


def test_a_running_exports_ids_are_kept_however_old(temp_dir, export):
    running = SortedRunStore(run_size=1, dir=str(temp_dir))
    try:
        running.add(b"u9\n", 1)
        held = age(Path(running._tmp.name), hours=48)

        export()

        assert sorted(path.name for path in held.iterdir()) == ["in-use.lock", "run-00000"]
    finally:
        running.close()


def test_look_alikes_are_never_touched(temp_dir, export, tmp_path_factory):
    other_users = age(killed_export_dir(temp_dir), hours=48)
    os.chown(other_users, 65534, 65534)  # nobody's
    open_to_all = age(killed_export_dir(temp_dir), hours=48)
    open_to_all.chmod(0o755)
    holding_more = killed_export_dir(temp_dir)
    (holding_more / "notes.txt").write_text("not ours")
    age(holding_more, hours=48)
    target = age(killed_export_dir(tmp_path_factory.mktemp("elsewhere")), hours=48)
    link = temp_dir / f"{RUN_DIR_PREFIX}link"
    link.symlink_to(target, target_is_directory=True)
    plain_file = temp_dir / f"{RUN_DIR_PREFIX}file"
    plain_file.write_text("not a directory")
    age(plain_file, hours=48)
    look_alikes = [other_users, open_to_all, holding_more, link, plain_file]

    export()

    assert [path for path in look_alikes if not path.exists()] == []
    assert (target / "run-00000").exists() and (holding_more / "run-00000").exists()
