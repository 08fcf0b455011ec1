"""
``personalize-deletion-suppression``: check the suppression list's key, or re-key the list.

It runs where Airflow's connections and Variables are readable (a worker, or a shell with the same
configuration), on the example DAG's warehouse and tables (Variables ``personalize_erasure_*``).
Keys are never given on the command line (shell history, ``ps``): the current key is the example
DAG's fingerprint key, and other keys are read from environment variables named on the command line.

- ``check``: exit 0 when every entry is under the current key (or a ``--previous-key-env`` key);
  else print the :class:`~.exceptions.SuppressionKeyError` and exit 2.
- ``rekey``: :func:`.rekey.rekey_suppression_list`, printing its report as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from airflow_provider_personalize_deletion.exceptions import SuppressionKeyError


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line.

    :param argv: the arguments; None reads ``sys.argv``.
    :return: 0 on success, 2 when the list holds entries of a key not given.
    """
    from airflow_provider_personalize_deletion.erasure import runtime
    from airflow_provider_personalize_deletion.erasure.rekey import rekey_suppression_list
    from airflow_provider_personalize_deletion.erasure.settings import resolve_warehouse_settings
    from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList, key_id
    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

    arguments = _parser().parse_args(argv)
    store = runtime.request_store(resolve_warehouse_settings(runtime.get_variable))
    key = _env_key(arguments.new_key_env) if arguments.new_key_env else fingerprint_key()
    try:
        if arguments.command == "check":
            previous = [_env_key(name) for name in arguments.previous_key_env]
            SuppressionList(store.hook, store.suppression_table).check_key(key, previous)
            print(json.dumps({"key_id": key_id(key), "check": "passed"}))
        else:
            report = rekey_suppression_list(
                store,
                key,
                old_keys=[_env_key(name) for name in arguments.old_key_env],
                drop_key_ids=arguments.drop_key_id,
                batch_size=arguments.batch_size,
            )
            print(json.dumps(report.as_dict(), sort_keys=True))
    except SuppressionKeyError as error:
        print(str(error), file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="personalize-deletion-suppression", description=__doc__.split("\n")[1]
    )
    parser.add_argument(
        "--new-key-env",
        metavar="NAME",
        help="environment variable holding the key to check or re-key with (default: the fingerprint key)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="fail unless every entry is under the key(s) given")
    check.add_argument("--previous-key-env", metavar="NAME", action="append", default=[])
    rekey = commands.add_parser("rekey", help="recompute the entries from the erased requests")
    rekey.add_argument(
        "--old-key-env",
        metavar="NAME",
        action="append",
        default=[],
        help="environment variable holding a key entries were made with (repeatable)",
    )
    rekey.add_argument(
        "--drop-key-id",
        metavar="KEY_ID",
        action="append",
        default=[],
        help="a lost key's id: its entries no surviving request re-keys are deleted (repeatable)",
    )
    rekey.add_argument("--batch-size", type=int, default=10_000, help="erased requests per transaction")
    return parser


def _env_key(name: str) -> bytes:
    """The key in an environment variable, as the fingerprint key's setting is read (whitespace ignored)."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise SystemExit(f"The environment variable {name!r} holds no key")
    return value.encode()


if __name__ == "__main__":
    sys.exit(main())
