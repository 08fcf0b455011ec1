"""
The secret key of the id-set fingerprints: the provider's Airflow setting ``[personalize_deletion]
fingerprint_key``, read in the process that needs it.

Not a Variable: at log level DEBUG the Task SDK's supervisor logs the body of every message between a
task and itself, and a Variable's value travels in them (``GetVariable``'s answer, ``PutVariable``), as
does a value given to ``airflow.sdk.log.mask_secret`` (``MaskSecret``). A setting is read from the
process's own configuration (airflow.cfg, the environment, or the ``_CMD``/``_SECRET`` variants, the
option being declared sensitive), and a task cannot write it.
"""

from __future__ import annotations

FINGERPRINT_KEY_SETTING = ("personalize_deletion", "fingerprint_key")
"""The Airflow setting (section, option) that holds the key."""
FINGERPRINT_KEY_ENV = "AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY"
"""The setting's environment variable."""
LEGACY_FINGERPRINT_KEY_VARIABLE = "personalize_erasure_fingerprint_key"
"""The Variable that held the key up to 0.2: its value is the one to move into the setting."""
FINGERPRINT_KEY_SETTING_NAME = "[{}] {}".format(*FINGERPRINT_KEY_SETTING)
"""The setting as the docs write it."""


def fingerprint_key() -> bytes:
    """
    The fingerprint key, from the setting ``[personalize_deletion] fingerprint_key``.

    Leading and trailing whitespace is ignored. The value is registered with this process's secrets
    masker only: telling the supervisor too (``mask_secret``) would send it in a message that the
    supervisor logs at DEBUG.

    :raises FingerprintKeyError: when the setting is unset, or shorter than 16 bytes; the message
        says how to set it and never quotes the value.
    """
    from airflow.configuration import conf

    # Imported here: DAG files import this module (through the transfer) at every parse.
    from airflow_provider_personalize_deletion.deletion_file.fingerprint import MIN_KEY_BYTES
    from airflow_provider_personalize_deletion.exceptions import FingerprintKeyError

    setting = FINGERPRINT_KEY_SETTING_NAME
    # Stripped: a _CMD's output ends with a line break, which would change every fingerprint.
    value = (conf.get(*FINGERPRINT_KEY_SETTING, fallback=None) or "").strip()
    if not value:
        raise FingerprintKeyError(
            f"The fingerprint key is not set: set the Airflow setting {setting} (environment "
            f"variable {FINGERPRINT_KEY_ENV}, or its _CMD or _SECRET variant) on every worker to a "
            f"random secret of at least {MIN_KEY_BYTES} bytes, for example the output of "
            '`python -c "import secrets; print(secrets.token_hex(32))"`. Upgrading from 0.2 or '
            f"earlier: use the value of the Variable {LEGACY_FINGERPRINT_KEY_VARIABLE} instead, so "
            "that earlier fingerprints stay comparable, then delete the Variable."
        )
    key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise FingerprintKeyError(
            f"The Airflow setting {setting} must hold at least {MIN_KEY_BYTES} bytes; it holds fewer"
        )
    _mask_in_this_process(value)
    return key


def _mask_in_this_process(value: str) -> None:
    """Register ``value`` with the Task SDK's secrets masker of this process, sending no message."""
    from airflow.sdk._shared.secrets_masker import mask_secret

    mask_secret(value)
