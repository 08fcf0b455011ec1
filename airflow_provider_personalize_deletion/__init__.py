"""Apache Airflow provider that erases users from Amazon Personalize with data deletion jobs."""

from __future__ import annotations

__version__ = "0.2.0"

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
_FINGERPRINT_KEY_DESCRIPTION = (
    "Secret HMAC key of the id-set fingerprints of the deletion files (at least 16 bytes), the same "
    "in every worker. Required by the SQL to S3 transfer; no default: generate one with "
    '``python -c "import secrets; print(secrets.token_hex(32))"``, or move the value of the Variable '
    "``personalize_erasure_fingerprint_key`` of an earlier version here. Changing it makes earlier "
    "fingerprints incomparable with new ones.\n"
)


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
                "python-modules": [f"{_PACKAGE}.operators.personalize"],
            }
        ],
        "sensors": [
            {"integration-name": "Amazon Personalize", "python-modules": [f"{_PACKAGE}.sensors.personalize"]}
        ],
        "triggers": [
            {
                "integration-name": "Amazon Personalize",
                "python-modules": [f"{_PACKAGE}.triggers.personalize"],
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
                    "fingerprint_key": {
                        "description": _FINGERPRINT_KEY_DESCRIPTION,
                        "version_added": "0.3.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": None,
                    },
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
