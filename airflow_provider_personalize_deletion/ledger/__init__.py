"""
The tamper-evident evidence ledger: records chained by SHA-256, one S3 object each, under Object Lock.

No Airflow import here: the verifier (``personalize-erasure-verify``) runs with boto3 alone, on an
auditor's read-only credentials. What goes in a record is the application's (:mod:`.record` says the
shape); this package writes (:mod:`.writer`), walks (:mod:`.chain`) and checks (:mod:`.claims`,
:mod:`.warehouse`) them.
"""
