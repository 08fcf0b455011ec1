"""The secret key of the id-set fingerprints, kept in an Airflow Variable and created on first use."""

from __future__ import annotations

import secrets

DEFAULT_FINGERPRINT_KEY_VARIABLE = "personalize_erasure_fingerprint_key"
"""The Variable that holds the key, unless an operator names another."""
_KEY_DESCRIPTION = (
    "Secret HMAC key of the personalize-deletion id-set fingerprints (created on first use). "
    "Changing it makes earlier fingerprints incomparable with new ones."
)


def get_or_create_fingerprint_key(variable: str = DEFAULT_FINGERPRINT_KEY_VARIABLE) -> bytes:
    """
    The fingerprint key in an Airflow Variable; a new random one (``secrets.token_hex(32)``) if unset.

    The value is registered with Airflow's secrets masker, so it never shows in a task log.

    :param variable: the Variable's key.
    :raises ValueError: when the Variable holds a key shorter than 16 bytes.
    """
    from airflow.sdk import Variable
    from airflow.sdk.log import mask_secret

    # Imported here, as above: DAG files import this module (through the transfer) at every parse.
    from airflow_provider_personalize_deletion.deletion_file.fingerprint import MIN_KEY_BYTES

    value = Variable.get(variable, default=None)
    if value is None:
        Variable.set(variable, secrets.token_hex(32), description=_KEY_DESCRIPTION)
        value = Variable.get(variable)  # the stored one, should another task have set it first
    key = str(value).encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"The Variable {variable!r} must hold at least {MIN_KEY_BYTES} characters")
    mask_secret(str(value))
    return key
