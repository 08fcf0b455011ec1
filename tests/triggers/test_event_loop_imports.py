"""
The triggerer imports a trigger's class on its event loop, the first time it meets the class path:
importing ours must bring no AWS library there, and a running trigger imports them in a worker thread.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Runs one trigger in a fresh process, as the triggerer would, recording which modules were imported
#: and whether on the event loop's thread (``asyncio.run`` runs the loop on the main thread).
SCRIPT = """
import asyncio, importlib.abc, json, sys, threading
import airflow.jobs.triggerer_job_runner  # what a triggerer has imported before it meets a trigger

WATCHED = (
    "boto3",
    "botocore.session",
    "aiobotocore.session",
    "airflow.providers.amazon.aws.hooks.base_aws",
    "airflow_provider_personalize_deletion.hooks.personalize",
)
on_loop = {}

class Recorder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in on_loop:
            on_loop[name] = threading.current_thread() is threading.main_thread()
        return None

already = sorted(name for name in WATCHED if name in sys.modules)
sys.meta_path.insert(0, Recorder())
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)
with_the_class = sorted(name for name in WATCHED if name in sys.modules)

async def main():
    trigger = PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=sys.argv[1], waiter_delay=1, waiter_max_attempts=30
    )
    async for event in trigger.run():
        return event.payload

payload = asyncio.run(main())
seen = {"already": already, "with_the_class": with_the_class, "on_loop": on_loop, "payload": payload}
print(json.dumps(seen))
"""


def test_the_trigger_class_imports_no_aws_library_and_a_run_imports_them_off_the_loop(create_jobs):
    (arn,) = create_jobs(1)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, arn], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["already"] == []  # the triggerer itself has not imported them
    assert seen["with_the_class"] == []
    assert seen["payload"] == {"status": "success", "data_deletion_job_arn": arn}
    assert sorted(seen["on_loop"]) == sorted(
        [
            "boto3",
            "botocore.session",
            "aiobotocore.session",
            "airflow.providers.amazon.aws.hooks.base_aws",
            "airflow_provider_personalize_deletion.hooks.personalize",
        ]
    )
    assert [name for name, on_loop in seen["on_loop"].items() if on_loop] == []
