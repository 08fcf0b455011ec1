"""
A local AWS for offline runs and tests: S3 (moto's) and the Personalize data deletion API on one endpoint.

Start it with ``personalize-deletion-emulator``, with :class:`LocalAws` as a context manager, or with the
project's pytest fixtures; drive the stage and inject faults with :class:`EmulatorClient`.
"""

from airflow_provider_personalize_deletion.emulator.control import EmulatorClient, EmulatorControlError
from airflow_provider_personalize_deletion.emulator.personalize import JobTimings
from airflow_provider_personalize_deletion.emulator.server import LocalAws

__all__ = ["EmulatorClient", "EmulatorControlError", "JobTimings", "LocalAws"]
