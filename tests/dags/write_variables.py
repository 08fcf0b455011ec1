"""Test DAG: a task writes the Variables its run's conf names, as any task of any DAG may (Airflow's
execution API lets it)."""

from __future__ import annotations

from airflow.sdk import DAG, Variable, task

with DAG(dag_id="write_variables", schedule=None):

    @task
    def write_variables(dag_run=None) -> None:
        for key, value in dag_run.conf.items():
            Variable.set(key, value)

    write_variables()
