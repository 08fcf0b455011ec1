"""Apache Airflow provider that erases users from Amazon Personalize with data deletion jobs."""

from __future__ import annotations

__version__ = "0.1.0"
