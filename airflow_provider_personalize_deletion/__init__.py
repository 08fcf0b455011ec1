"""Apache Airflow provider that erases users from Amazon Personalize with data deletion jobs."""

from __future__ import annotations

__version__ = "0.3.0"

_PACKAGE = "airflow_provider_personalize_deletion"
#: The provider's documentation (the ``Documentation`` URL of pyproject.toml; a placeholder repository).
DOCUMENTATION_URL = "https://github.com/your-org/airflow-provider-personalize-deletion#readme"

_GC_FREEZE_DESCRIPTION = (
    "Call ``gc.freeze()`` once in a triggerer process, when a trigger of this provider first opens its "
    "shared AWS client, so that full garbage collections no longer walk the objects alive then (Airflow's "
    "and the providers' modules) and stop the triggerer's event loop for tens of milliseconds instead of "
    "hundreds. A decision for the whole process, hence off by default; cyclic garbage alive at that "
    "moment is never freed.\n"
)
_CALLS_PER_SECOND_DESCRIPTION = (
    "The most calls a second that the triggers of one triggerer process send to Amazon Personalize "
    "through one Airflow connection and region, retries included; they wait for their turn, in order. "
    "A throttling answer halves the rate, which grows back to this value within a minute. 0: no bound; "
    "otherwise at least 0.5 (a value that is neither is logged as an error and 10 applies). "
    "The triggers' polls need about 1.1 x N x c / waiter_delay calls a second (N waits of c calls a "
    "poll): above this value they queue and poll less often than waiter_delay.\n"
)
_FINGERPRINT_KEY_DESCRIPTION = (
    "Secret HMAC key of the id-set fingerprints of the deletion files (at least 16 bytes), the same "
    "in every worker. Required by the SQL to S3 transfer; no default: generate one with "
    '``python -c "import secrets; print(secrets.token_hex(32))"``, or move the value of the Variable '
    "``personalize_erasure_fingerprint_key`` of an earlier version here. Changing it makes earlier "
    "fingerprints incomparable with new ones.\n"
)

#: The erasure dashboard's warehouse settings, read by the API server (see dashboard/settings.py).
_DASHBOARD_WHY = (
    " Set here, no Variable changes it (a task can write any Variable, never the API server's "
    "configuration); unset, its Variable applies only with dashboard_settings_from_variables on."
)
_DASHBOARD_OPTIONS = {
    "dashboard_warehouse_conn_id": {
        "description": "The connection of the warehouse the erasure dashboard reads, and to which it sends "
        "the user ids of its lookups. Unset: personalize_erasure_warehouse, the example DAG's default."
        + _DASHBOARD_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "privacy_warehouse",
        "default": None,
    },
    "dashboard_requests_table": {
        "description": "The table of erasure requests the dashboard reads (name or schema.name). Unset: "
        "erasure_requests." + _DASHBOARD_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "privacy.erasure_requests",
        "default": None,
    },
    "dashboard_audit_table": {
        "description": "The table of audit records the dashboard reads (name or schema.name). Unset: "
        "erasure_audit." + _DASHBOARD_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "privacy.erasure_audit",
        "default": None,
    },
    "dashboard_suppression_table": {
        "description": "The suppression list's table the dashboard reads (name or schema.name). Unset: "
        "erasure_suppression." + _DASHBOARD_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "privacy.erasure_suppression",
        "default": None,
    },
    "dashboard_overdue_days": {
        "description": "The days of the deadline rule 'days' (1 to 3650), e.g. 45 for the CCPA. "
        "Unset: 30." + _DASHBOARD_WHY,
        "version_added": "0.3.0",
        "type": "integer",
        "example": "30",
        "default": None,
    },
    "dashboard_deadline": {
        "description": "How the dashboard counts a request's due date: calendar_month (GDPR art. 12(3): "
        "one calendar month from receipt, plus any extension) or days (dashboard_overdue_days). "
        "Unset: calendar_month." + _DASHBOARD_WHY,
        "version_added": "0.4.0",
        "type": "string",
        "example": "calendar_month",
        "default": None,
    },
    "dashboard_settings_from_variables": {
        "description": "Let the Variables personalize_erasure_warehouse_conn_id, _requests_table, "
        "_audit_table, _overdue_days and _deadline set what the dashboard_* options leave unset. "
        "Off by default: anyone who can deploy a DAG can write those Variables from a task, and so "
        "point the dashboard, and the user ids typed into its lookup, at another connection.",
        "version_added": "0.3.0",
        "type": "boolean",
        "example": "True",
        "default": "False",
    },
}

#: The evidence ledger's settings, read by the workers (see erasure/ledger_steps.py).
_LEDGER_WHY = " Set here, no Variable, param or run conf changes it (any task may write a Variable)."
_LEDGER_OPTIONS = {
    "ledger_bucket": {
        "description": "The S3 bucket of the evidence ledger, created with Object Lock enabled: each "
        "erasure and verification record is appended there after the warehouse commit, chained by "
        "SHA-256, one object per record under compliance-mode retention. Unset: no ledger." + _LEDGER_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "acme-erasure-evidence",
        "default": None,
    },
    "ledger_prefix": {
        "description": "The key prefix of the ledger's records in ledger_bucket, also the ledger's name "
        "in each record (a record copied into another ledger does not verify)." + _LEDGER_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "erasure-ledger",
        "default": "erasure-ledger",
    },
    "ledger_retention_days": {
        "description": "Days each ledger record is retained in Object Lock's compliance mode: until "
        "then no one, the pipeline and the bucket's owner included, can delete or change it (1 to "
        "36500). Choose the period your accountability duty needs; it cannot be shortened later."
        + _LEDGER_WHY,
        "version_added": "0.3.0",
        "type": "integer",
        "example": "2557",
        "default": "2557",
    },
    "ledger_allow_unlocked": {
        "description": "Write the ledger to a bucket without Object Lock. Off by default: such a bucket "
        "is refused. On, every record and the verifier say 'not tamper-evident'.",
        "version_added": "0.3.0",
        "type": "boolean",
        "example": "True",
        "default": "False",
    },
    "ledger_aws_conn_id": {
        "description": "The AWS connection that writes the ledger (PutObject, PutObjectRetention, "
        "GetObject, ListBucketVersions, GetBucketObjectLockConfiguration on the ledger's prefix)."
        + _LEDGER_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "aws_evidence",
        "default": "aws_default",
    },
}

#: Where find and forget may read and rewrite, read by the workers (see forget/allowed_locations.py).
_FORGET_OPTIONS = {
    "forget_allowed_locations": {
        "description": "The S3 folders find and forget may read and rewrite, comma-separated: "
        "s3://bucket/ (the whole bucket) or s3://bucket/prefix/ (a prefix ends with /, so s3://b/data/ "
        "does not hold s3://b/data_old/). A declared location (the Variable "
        "personalize_erasure_forget_locations) outside them fails the run before any AWS call, and its "
        "allowed_buckets may only name their buckets; a Personalize job's location outside them is "
        "reported location_not_allowed and not read. Unset: find and forget reads and rewrites nothing "
        "(its planning and mapped tasks fail naming this option)." + _LEDGER_WHY,
        "version_added": "0.3.0",
        "type": "string",
        "example": "s3://acme-batch-jobs/, s3://acme-exports/personalize/",
        "default": None,
    },
}


def get_provider_info() -> dict:
    """Describe this provider to Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-personalize-deletion",
        "name": "Amazon Personalize data deletion",
        "description": "Erase users from Amazon Personalize (GDPR/CCPA right to erasure) with data deletion "
        "jobs: hook, exactly-once operator, deferrable sensor, SQL to S3 deletion files, local emulator, "
        "erasure dashboard.",
        "versions": [__version__],
        "documentation-url": DOCUMENTATION_URL,
        "integrations": [
            {
                "integration-name": "Amazon Personalize",
                "external-doc-url": "https://docs.aws.amazon.com/personalize/latest/dg/delete-records.html",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {"integration-name": "Amazon Personalize", "python-modules": [f"{_PACKAGE}.hooks.personalize"]}
        ],
        "operators": [
            {
                "integration-name": "Amazon Personalize",
                "python-modules": [
                    f"{_PACKAGE}.operators.personalize",
                    f"{_PACKAGE}.operators.dataset_export",
                    f"{_PACKAGE}.operators.dataset_import",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Amazon Personalize", "python-modules": [f"{_PACKAGE}.sensors.personalize"]}
        ],
        "triggers": [
            {
                "integration-name": "Amazon Personalize",
                "python-modules": [
                    f"{_PACKAGE}.triggers.personalize",
                    f"{_PACKAGE}.triggers.dataset_export",
                    f"{_PACKAGE}.triggers.dataset_import",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "Common SQL",
                "target-integration-name": "Amazon Personalize",
                "python-module": f"{_PACKAGE}.transfers.sql_to_s3",
            }
        ],
        "config": {
            "personalize_deletion": {
                "description": "Settings of the Amazon Personalize data deletion provider.",
                "options": {
                    "triggerer_gc_freeze": {
                        "description": _GC_FREEZE_DESCRIPTION,
                        "version_added": "0.2.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "triggerer_calls_per_second": {
                        "description": _CALLS_PER_SECOND_DESCRIPTION,
                        "version_added": "0.3.0",
                        "type": "float",
                        "example": "25",
                        "default": "10",
                    },
                    "fingerprint_key": {
                        "description": _FINGERPRINT_KEY_DESCRIPTION,
                        "version_added": "0.3.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": None,
                    },
                    **_DASHBOARD_OPTIONS,
                    **_LEDGER_OPTIONS,
                    **_FORGET_OPTIONS,
                },
            },
        },
        "extra-links": [f"{_PACKAGE}.links.personalize.PersonalizeDataDeletionJobLink"],
        # Airflow reads this only with [core] lazy_discover_providers off; the airflow.plugins entry
        # point covers the default (see dashboard/plugin.py).
        "plugins": [
            {
                "name": "personalize_erasure_dashboard",
                "plugin-class": f"{_PACKAGE}.dashboard.plugin.ErasureDashboardPlugin",
            }
        ],
    }
