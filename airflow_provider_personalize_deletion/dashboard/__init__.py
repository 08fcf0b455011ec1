"""The erasure dashboard: an Airflow UI view of the example DAG's requests, deadlines, runs and evidence."""
