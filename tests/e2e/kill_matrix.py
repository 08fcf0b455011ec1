"""
The kill matrix: where a process dies during an erasure run, what dies, and how the run goes on.

A cell is data (:class:`Cell`): a step (the task), a kill point in it, what dies there, and the
continuation. Every kill point is one the code passes anyway, reached by stalling something outside
it, never by a branch of the production code:

- :class:`PersonalizeCall` / :class:`S3Call`: the emulator holds one operation's answer (its
  latency); the request is received, and carried out when the delay ends, as a service does with a
  request whose client died;
- :class:`TableLock`: the test's own PostgreSQL connection holds a lock on a warehouse table that
  conflicts with the step's write (``SHARE`` mode: reads pass, writes wait), so the task blocks in
  the middle of its transaction;
- :class:`Deferred`: the step's tasks are deferred and a triggerer runs their triggers (jobs held
  ``IN_PROGRESS``).

What dies (:data:`DIES`): the task's processes (SIGKILL to the task runner and its supervisor), the
scheduler (its process group: with LocalExecutor, the workers die with it), the triggerer, or the
task's warehouse connection (``pg_terminate_backend`` of the blocked backend).

Continuations (:data:`CONTINUATIONS`): Airflow's own retry (after the scheduler's heartbeat timeout
finds the task lost), or a human's clear through the REST API: of the task, of the task with its
downstream tasks, of the whole run. Then a later normal run. :func:`assert_promises` checks every
promise after both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg2

from tests.e2e.harness import DAG_ID, FINISHED_RUN_STATES, wait_until

#: Seconds the emulator holds a call at a kill point: long enough to find and kill the task.
HOLD_SECONDS = 8
#: What a killed task's instance shows once the scheduler noticed (heartbeat timeout, 30 s on e2e).
NOTICED = frozenset({"up_for_retry", "failed"})
SENSOR_TASKS = ("wait_for_deletion", "wait_for_follow_up")
TEMP_DIR_PREFIX = "personalize-deletion-ids-"
JOB_ARN = re.compile(r"arn:aws:personalize:[^\"' ]+:data-deletion-job/[A-Za-z0-9_.-]+")


class Hold(Protocol):
    """How a step is stopped at its kill point, and how the stop ends."""

    def arm(self, stage: Any) -> None:
        """Before the run starts."""

    def reached(self, stage: Any, running: list[dict[str, Any]]) -> bool:
        """Whether the step's running task instances are stopped at the point now."""

    def release(self, stage: Any) -> None:
        """After the kill: the stalled thing goes on."""


@dataclass
class PersonalizeCall:
    """The emulator holds the answer to the step's next call of ``operation`` (Personalize's, or S3's)."""

    operation: str
    _baseline: int | None = None

    def arm(self, stage: Any) -> None:
        self._baseline = None

    def reached(self, stage: Any, running: list[dict[str, Any]]) -> bool:
        if not running:
            return False
        if self._baseline is None:  # held from the moment the step runs: earlier steps are not slowed
            self._baseline = stage.emulator.calls(self.operation)
            stage.emulator.set_latency(HOLD_SECONDS, self.operation)
            return False
        return stage.emulator.calls(self.operation) > self._baseline

    def release(self, stage: Any) -> None:
        stage.emulator.set_latency(0, self.operation)


#: An S3 operation is held the same way (the emulator's latency of one S3 operation).
S3Call = PersonalizeCall


@dataclass
class TableLock:
    """The test's connection holds ``LOCK TABLE <table> IN SHARE MODE``: the step's write on it waits."""

    table: str
    _connection: Any = None
    blocked_pid: int | None = None

    def arm(self, stage: Any) -> None:
        self._connection = psycopg2.connect(stage.warehouse.dsn)
        with self._connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {self.table} IN SHARE MODE")  # the transaction stays open

    def reached(self, stage: Any, running: list[dict[str, Any]]) -> bool:
        rows = stage.warehouse.query(
            "SELECT pid FROM pg_locks WHERE relation = %s::regclass AND NOT granted", (self.table,)
        )
        self.blocked_pid = rows[0][0] if rows else None
        return bool(running and rows)

    def release(self, stage: Any) -> None:
        if self._connection is not None:
            self._connection.rollback()
            self._connection.close()
            self._connection = None


@dataclass
class TableLockAfterCommit(TableLock):
    """
    The step's write on ``table`` commits, then its next statement on the table waits.

    The ``SHARE`` lock stops the write; a second connection then asks for ``ACCESS EXCLUSIVE`` (it
    queues behind the write) and the first lets go: the write runs and commits, the exclusive lock
    is granted, and the step's next statement on the table, even a read, waits behind it.
    """

    _exclusive: Any = None
    _thread: threading.Thread | None = None

    def reached(self, stage: Any, running: list[dict[str, Any]]) -> bool:
        if self._exclusive is None:
            if not super().reached(stage, running):
                return False
            self._exclusive = psycopg2.connect(stage.warehouse.dsn)
            exclusive_pid = self._exclusive.get_backend_pid()
            self._thread = threading.Thread(target=self._lock_exclusive, daemon=True)
            self._thread.start()
            wait_until(lambda: exclusive_pid in self._waiting(stage), 30, interval=0.1, what="queued lock")
            super().release(stage)  # the write goes first, then the exclusive lock
            return False
        if self._thread is not None and self._thread.is_alive():
            return False
        waiting = self._waiting(stage)
        self.blocked_pid = waiting[0] if waiting else None
        return bool(running and waiting)

    def _waiting(self, stage: Any) -> list[int]:
        rows = stage.warehouse.query(
            "SELECT pid FROM pg_locks WHERE relation = %s::regclass AND NOT granted", (self.table,)
        )
        return [row[0] for row in rows]

    def _lock_exclusive(self) -> None:
        with self._exclusive.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")

    def release(self, stage: Any) -> None:
        super().release(stage)
        if self._exclusive is not None:
            self._exclusive.rollback()
            self._exclusive.close()
            self._exclusive = None


@dataclass
class Deferred:
    """The step's tasks are deferred, their workers gone, a triggerer running each trigger."""

    def arm(self, stage: Any) -> None:
        pass

    def reached(self, stage: Any, running: list[dict[str, Any]]) -> bool:
        return False  # decided on the deferred instances (see reach_point)

    def release(self, stage: Any) -> None:
        pass


@dataclass(frozen=True)
class Cell:
    """
    One kill: where, what dies, how the run goes on.

    :param step: the task id killed.
    :param point: the kill point's name, for the results table.
    :param hold: how the step is stopped there (a factory: each test gets a fresh hold).
    :param dies: one of :data:`DIES`.
    :param continuation: one of :data:`CONTINUATIONS`.
    :param ci: whether ``make test`` runs it (mark ``kill_matrix_ci``).
    """

    step: str
    point: str
    hold: Any
    dies: str
    continuation: str
    ci: bool = False

    @property
    def id(self) -> str:
        return f"{self.step}:{self.point}:{self.dies}:{self.continuation}"


DIES = ("task", "scheduler", "triggerer", "connection")
CONTINUATIONS = ("retry", "clear_task", "clear_downstream", "clear_run")


def _cells() -> list[Cell]:
    collect, create, wait = "collect_erasure_requests", "create_deletion_job", "wait_for_deletion"
    record, delete = "record_erasure", "delete_deletion_files"
    claim_lock = lambda: TableLock("erasure_requests")  # noqa: E731
    audit_lock = lambda: TableLock("erasure_audit")  # noqa: E731
    suppression_lock = lambda: TableLock("erasure_suppression")  # noqa: E731
    create_call = lambda: PersonalizeCall("CreateDataDeletionJob")  # noqa: E731
    before_create = lambda: PersonalizeCall("ListDataDeletionJobs")  # noqa: E731
    delete_call = lambda: S3Call("DeleteObjects")  # noqa: E731
    table: list[tuple[str, str, Any, list[tuple[str, str, bool]]]] = [
        # step, point, hold, [(dies, continuation, ci)]
        (
            collect,
            "claim_before_commit",
            claim_lock,
            [
                ("task", "retry", False),
                ("task", "clear_run", False),
                ("connection", "retry", False),
                ("scheduler", "retry", False),
            ],
        ),
        (
            collect,
            "after_claim_commit",
            lambda: TableLockAfterCommit("erasure_requests"),
            [
                ("task", "retry", False),
                ("task", "clear_task", False),
            ],
        ),
        (
            create,
            "before_the_call",
            before_create,
            [
                ("task", "retry", False),
                ("task", "clear_task", False),
            ],
        ),
        (
            create,
            "after_the_call_before_the_record",
            create_call,
            [
                ("task", "retry", False),
                ("task", "clear_task", True),
                ("task", "clear_downstream", False),
                ("task", "clear_run", False),
                ("scheduler", "retry", False),
            ],
        ),
        (
            wait,
            "triggerer_polling",
            Deferred,
            [
                ("triggerer", "retry", True),
                ("triggerer", "clear_task", False),
            ],
        ),
        (
            record,
            "mid_transaction",
            suppression_lock,
            [
                ("task", "retry", False),
                ("connection", "retry", False),
                ("task", "clear_task", False),
            ],
        ),
        (
            record,
            "after_commit_before_return",
            audit_lock,
            [
                ("task", "retry", False),
                ("task", "clear_task", False),
                ("task", "clear_run", False),
            ],
        ),
        (
            delete,
            "mid_delete",
            delete_call,
            [
                ("task", "retry", False),
                ("task", "clear_task", False),
            ],
        ),
    ]
    return [
        Cell(step, point, hold, dies, continuation, ci)
        for step, point, hold, kills in table
        for dies, continuation, ci in kills
    ]


#: Every cell of the matrix.
CELLS = _cells()


# ---- the jobs the emulator runs meanwhile ------------------------------------------------------------


class JobKeeper:
    """
    Holds each new deletion job ``IN_PROGRESS`` and releases it once every sensor is deferred and
    taken by a triggerer (see :meth:`.Stage.wait_until_deferred` for the Airflow race this avoids).
    """

    def __init__(self, stage: Any) -> None:
        self.stage = stage
        self.seen = {job["jobName"] for job in stage.emulator.jobs()}
        self.held: list[str] = []
        self._parked_since: float | None = None

    def step(self, run_id: str, release: bool = True) -> None:
        for job in self.stage.emulator.jobs():
            if job["jobName"] not in self.seen:
                self.seen.add(job["jobName"])
                if job["status"] in ("PENDING", "IN_PROGRESS"):
                    self.stage.emulator.hold(job["jobName"], "IN_PROGRESS")
                    self.held.append(job["jobName"])
        if not self.held or not release:
            return
        if not self.sensors_parked(run_id):
            self._parked_since = None
            return
        self._parked_since = self._parked_since or time.monotonic()
        if time.monotonic() - self._parked_since > 3:  # the scheduler's next loop took the event in
            for name in self.held:
                self.stage.emulator.release(name)
            self.held = []

    def sensors_parked(self, run_id: str) -> list[dict[str, Any]]:
        """The sensors, when every one is deferred, taken by a triggerer, with no worker process left."""
        airflow = self.stage.airflow
        sensors = [ti for ti in airflow.task_instances(run_id) if ti["task_id"].startswith(SENSOR_TASKS)]
        deferred = [ti for ti in sensors if ti["state"] == "deferred"]
        started = [ti for ti in sensors if ti["state"] not in (None, "skipped")]
        if not deferred or len(deferred) != len(started):
            return []
        if not all((ti["trigger"] or {}).get("triggerer_id") for ti in deferred):
            return []
        if airflow.task_processes(ti["id"] for ti in deferred):
            return []
        return deferred

    def drive(self, run_id: str, timeout: float = 420) -> str:
        """Keep the jobs going until the run has finished; return its state."""

        def finished() -> str | None:
            self.stage.airflow.assert_components_alive()
            self.step(run_id)
            state = self.stage.airflow.dag_run(run_id)["state"]
            return state if state in FINISHED_RUN_STATES else None

        return wait_until(finished, timeout, interval=0.5, what=f"DAG run {run_id} to finish")


# ---- reaching the point, killing, going on ------------------------------------------------------------


def instances(stage: Any, run_id: str, task_id: str) -> list[dict[str, Any]]:
    return [ti for ti in stage.airflow.task_instances(run_id) if ti["task_id"] == task_id]


def reach_point(stage: Any, cell: Cell, hold: Hold, run_id: str, keeper: JobKeeper) -> list[dict[str, Any]]:
    """Wait until the step is stopped at the kill point; return its task instances."""

    def stopped() -> list[dict[str, Any]] | None:
        stage.airflow.assert_components_alive()
        keeper.step(run_id, release=not cell.step.startswith(SENSOR_TASKS))
        tis = instances(stage, run_id, cell.step)
        if isinstance(hold, Deferred):
            parked = keeper.sensors_parked(run_id)
            return parked if parked and {ti["task_id"] for ti in parked} == {cell.step} else None
        running = [ti for ti in tis if ti["state"] == "running"]
        alive = running and stage.airflow.task_processes(ti["id"] for ti in running)
        return running if alive and hold.reached(stage, running) else None

    return wait_until(stopped, 300, interval=0.2, what=f"{cell.step} stopped at {cell.point}")


def kill(stage: Any, cell: Cell, hold: Hold, tis: list[dict[str, Any]]) -> None:
    """Kill what the cell says dies, then let the stalled thing go on."""
    airflow = stage.airflow
    if cell.dies == "task":
        pids = airflow.task_processes(ti["id"] for ti in tis)
        assert pids, f"no process runs {cell.step}"
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    elif cell.dies in ("scheduler", "triggerer"):
        airflow.kill(cell.dies)
        airflow.start(cell.dies)
    elif cell.dies == "connection":
        assert isinstance(hold, TableLock) and hold.blocked_pid, "only a blocked warehouse statement"
        stage.warehouse.query("SELECT pg_terminate_backend(%s)", (hold.blocked_pid,))
    else:
        raise ValueError(f"Unknown 'dies' {cell.dies!r}: one of {DIES}")
    hold.release(stage)


def go_on(stage: Any, cell: Cell, run_id: str, keeper: JobKeeper) -> None:
    """The continuation: Airflow's own retry, or a human's clear once the failure shows."""
    if cell.continuation == "retry":
        return
    airflow = stage.airflow
    if cell.dies == "triggerer":  # a deferred task is not lost: the human clears it while it waits
        keeper.step(run_id, release=False)
    else:

        def noticed() -> bool:
            keeper.step(run_id, release=False)
            return all(ti["state"] in NOTICED for ti in instances(stage, run_id, cell.step))

        wait_until(noticed, 180, what=f"{cell.step} failed or up for retry")
    if cell.continuation == "clear_run":
        airflow.api("POST", f"/dags/{DAG_ID}/dagRuns/{run_id}/clear", json={"dry_run": False})
    elif cell.continuation in ("clear_task", "clear_downstream"):
        airflow.api(
            "POST",
            f"/dags/{DAG_ID}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [cell.step],
                "only_failed": False,
                "include_downstream": cell.continuation == "clear_downstream",
                "reset_dag_runs": True,
            },
        )
    else:
        raise ValueError(f"Unknown continuation {cell.continuation!r}: one of {CONTINUATIONS}")


# ---- the promises --------------------------------------------------------------------------------------


def assert_promises(stage: Any, user_ids: list[str], run_ids: list[str], group_arns: list[str]) -> None:
    """
    Every promise, after the killed run and a later normal run (the last of ``run_ids``, successful):

    - 0 lost requests: each request is there, erased (the later run succeeded: none is pending);
    - 0 false erasures: each erased request names only jobs the emulator shows COMPLETED, and its
      user is gone from every dataset group;
    - 0 duplicate deletion jobs: one job per dataset group and file (the emulator's own jobs);
    - 0 personal data left: no object under the bucket, no open multipart upload, no temp directory
      of ids in the deployment's TMPDIR;
    - 0 ids in any log, XCom or the metadata DB (:meth:`.Stage.assert_nothing_leaked`);
    - the audit tells the truth about every try of every run (:func:`assert_audit_true`).
    """
    jobs = {job["dataDeletionJobArn"]: job for job in stage.emulator.jobs()}
    rows = stage.warehouse.query(
        "SELECT user_id, status, erasure_record FROM erasure_requests WHERE user_id = ANY(%s)", (user_ids,)
    )
    assert sorted(row[0] for row in rows) == sorted(user_ids), "a request was lost"
    assert {row[1] for row in rows} == {"erased"}, Counter(row[1] for row in rows)
    for _, _, record in rows:
        named = set(JOB_ARN.findall(record or ""))
        assert named, "an erased request names no job"
        assert {jobs[arn]["status"] for arn in named} == {"COMPLETED"}, "erased by a job not COMPLETED"
    for arn in group_arns:
        assert not set(user_ids) & stage.emulator.users(arn), "a user marked erased is still in a group"
    creates = Counter((job["datasetGroupArn"], job["dataSource"]["dataLocation"]) for job in jobs.values())
    assert all(count == 1 for count in creates.values()), f"duplicate deletion jobs: {creates}"
    assert stage.s3_keys() == [], "files left in the bucket"
    uploads = stage.s3.list_multipart_uploads(Bucket="personalize-erasure").get("Uploads", [])
    assert uploads == [], "multipart uploads left open"
    temp = Path(stage.airflow.env["TMPDIR"])
    assert not [path for path in temp.iterdir() if path.name.startswith(TEMP_DIR_PREFIX)], "temp ids left"
    stage.assert_nothing_leaked(user_ids)
    for run_id in run_ids:
        assert_audit_true(stage, run_id, jobs)


def assert_audit_true(stage: Any, run_id: str, jobs: dict[str, dict[str, Any]]) -> None:
    """
    The run's audit row matches its end, and each try's record (the last one and its
    ``earlier_records``) tells its outcome truly: a record saying erased names only COMPLETED jobs
    and as many erased requests as claimed; one saying failed gives a reason.
    """
    state = stage.airflow.dag_run(run_id)["state"]
    audit = stage.audit(run_id)
    assert audit is not None, f"no audit record of run {run_id}"
    outcome, record = audit
    assert (outcome in ("erased", "nothing_to_erase")) == (state == "success"), (outcome, state)
    tries = [*record.get("earlier_records", []), record]
    (record_try,) = instances(stage, run_id, "record_erasure")
    assert len(tries) <= record_try["try_number"], "more audit records than tries of record_erasure"
    for entry in tries:
        named = set(JOB_ARN.findall(json.dumps(entry)))
        assert named <= set(jobs), "the audit names a job the service never had"
        if entry["outcome"] == "erased":
            assert {jobs[arn]["status"] for arn in named} == {"COMPLETED"}
            assert entry["requests"]["erased"] == entry["requests"]["claimed"] > 0
        elif entry["outcome"] == "failed":
            assert entry["problems"], "a failed record without a reason"
