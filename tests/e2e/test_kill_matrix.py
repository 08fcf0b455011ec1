"""
The kill matrix on the e2e suite's real Airflow (LocalExecutor): each cell kills at one point, goes on
as its continuation says, runs a later normal run, and checks every promise (:mod:`.kill_matrix`).

``make test`` runs the cells marked ``kill_matrix_ci`` only (two: the README says which and why); the
full matrix runs with ``make kill-matrix`` (``KILL_MATRIX=all``), which saves the results table. A
CI cell whose killed run succeeded makes no later run (that run was the next successful one).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone

import pytest

from tests.e2e.conftest import Stage
from tests.e2e.kill_matrix import CELLS, Cell, JobKeeper, assert_promises, go_on, kill, reach_point

pytestmark = [pytest.mark.e2e, pytest.mark.kill_matrix]

#: ``make kill-matrix``: every cell, each with a later normal run even when the killed run succeeded.
FULL_MATRIX = os.environ.get("KILL_MATRIX") == "all"


def _param(cell: Cell):
    marks = [pytest.mark.kill_matrix_ci] if cell.ci else []
    return pytest.param(cell, id=cell.id, marks=marks)


@pytest.mark.parametrize("cell", [_param(cell) for cell in CELLS])
def test_every_promise_holds_after_the_kill(stage: Stage, cell: Cell) -> None:
    started = time.monotonic()
    outcome = "error"
    first_state = ""
    phases: dict[str, float] = {}
    try:
        user_ids = stage.user_ids(3)
        stage.request_erasure(user_ids)
        group = stage.group_arns[:1]
        hold = cell.hold()
        hold.arm(stage)
        try:
            run_id = stage.airflow.trigger(stage.conf(group_arns=group))
            keeper = JobKeeper(stage)
            stopped = reach_point(stage, cell, hold, run_id, keeper)
            phases["reach"] = time.monotonic() - started
            kill(stage, cell, hold, stopped)
        finally:
            hold.release(stage)
        go_on(stage, cell, run_id, keeper)
        first_state = keeper.drive(run_id)
        phases["killed_run"] = time.monotonic() - started - phases["reach"]

        run_ids = [run_id]
        if first_state != "success" or FULL_MATRIX:  # CI: a killed run that succeeded was the next one
            run_ids.append(stage.airflow.trigger(stage.conf(group_arns=group)))
            assert JobKeeper(stage).drive(run_ids[-1]) == "success", "the later normal run failed"
            phases["later_run"] = time.monotonic() - started - phases["reach"] - phases["killed_run"]
        assert_promises(stage, user_ids, run_ids, group)
        outcome = "pass"
    except AssertionError as error:
        outcome = f"FAIL: {str(error).splitlines()[0][:120]}"
        raise
    except Exception as error:
        outcome = f"ERROR: {type(error).__name__}: {str(error).splitlines()[0][:100] if str(error) else ''}"
        raise
    finally:
        _save_result(cell, outcome, first_state, time.monotonic() - started, phases)


def _save_result(
    cell: Cell, outcome: str, first_state: str, seconds: float, phases: dict[str, float]
) -> None:
    """One line of the results table, when ``KILL_MATRIX_RESULTS`` names a JSON-lines file."""
    path = os.environ.get("KILL_MATRIX_RESULTS")
    if path:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        ).stdout.strip()
        line = {
            "cell": cell.id,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "commit": commit,
            "outcome": outcome,
            "killed_run": first_state,
            "seconds": round(seconds),
            **{f"{name}_seconds": round(value) for name, value in phases.items()},
        }
        with open(path, "a") as results:
            results.write(json.dumps(line) + "\n")
