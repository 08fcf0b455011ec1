"""
Personalize deletion files, without Airflow: which ids are valid, how they are deduplicated,
encoded, split and fingerprinted. The transfer operator only feeds it rows and uploads what it makes.
"""
