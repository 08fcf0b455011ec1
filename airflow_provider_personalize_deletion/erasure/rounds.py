"""
The rounds of deletion jobs of an erasure run: the initial jobs (round 0), then up to
:data:`MAX_FOLLOW_UP_ROUNDS` rounds of follow-up jobs on the same files.

Each round has its own plan, create and wait tasks. The create task's id differs from round to
round, so the create operator's default job names (a digest of DAG, task, run, map index, dataset
group and file) differ too, and stay the same on a retry of the same round: a follow-up job is
created exactly once.

The DAG file imports this module at every parse: it imports nothing (the settings import it).
"""

from __future__ import annotations

#: The most follow-up rounds a run may take (the DAG has this many rounds of follow-up tasks).
MAX_FOLLOW_UP_ROUNDS = 3
#: The round numbers: 0 for the initial jobs, then each follow-up round.
ROUNDS = tuple(range(MAX_FOLLOW_UP_ROUNDS + 1))


def round_tasks(round_number: int) -> tuple[str, str, str]:
    """
    The plan, create and wait task ids of a round.

    :param round_number: 0 for the initial jobs, then 1, 2, ... for the follow-up rounds.
    """
    if round_number == 0:
        return "plan_deletion_jobs", "create_deletion_job", "wait_for_deletion"
    return (
        f"plan_follow_up_jobs_{round_number}",
        f"create_follow_up_job_{round_number}",
        f"wait_for_follow_up_{round_number}",
    )
