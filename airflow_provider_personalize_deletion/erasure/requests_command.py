"""
``personalize-deletion-requests``: the privacy officer's decisions on a pending erasure request.

It runs where Airflow's configuration and connections are readable (the API server's host, or a shell
with the same configuration), on the warehouse and deadline the erasure dashboard reads: the options
``[personalize_deletion] dashboard_<setting>``, the Variables ``personalize_erasure_<setting>`` only
when ``dashboard_settings_from_variables`` is on (:mod:`.dashboard.settings`). Any running task may
write a Variable; none may change this configuration, so a task cannot move the deadline an extension
is counted against, nor the table a decision is written to. A request is named by its ``request_id``,
never by its user id.

- ``extend REQUEST_ID --months 1|2 --reason TEXT``: extend its deadline (GDPR art. 12(3)), once,
  within its first month; prints the new due date (UTC) as JSON.
- ``decide REQUEST_ID --reason-code CODE``: refuse it (an art. 17(3) or 12(5) code) or record that it
  cannot be fulfilled (``cannot_identify``); no erasure run touches it afterwards.

``--by`` names who decided (default: the login name of the shell). Bad input exits 2 with a message
naming the field and the rule, before anything is written.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line.

    :param argv: the arguments; None reads ``sys.argv``.
    :return: 0 on success, 2 when the decision was refused (nothing written).
    """
    from airflow_provider_personalize_deletion.dashboard.settings import dashboard_settings, get_option
    from airflow_provider_personalize_deletion.erasure import runtime
    from airflow_provider_personalize_deletion.erasure.columns import MissingColumnError
    from airflow_provider_personalize_deletion.erasure.decisions import (
        DecisionError,
        decide_request,
        extend_request,
    )
    from airflow_provider_personalize_deletion.erasure.settings import setting_from_variables

    arguments = _parser().parse_args(argv)
    settings = dashboard_settings(get_option, runtime.get_variable)
    store = runtime.request_store(settings)
    may_alter = setting_from_variables("create_tables", runtime.get_variable)
    now = datetime.now(timezone.utc)
    by = arguments.by or getpass.getuser()
    try:
        if arguments.command == "extend":
            result = extend_request(
                store,
                arguments.request_id,
                arguments.months,
                arguments.reason,
                by,
                now,
                settings.deadline_rule,
                may_alter=may_alter,
            )
        else:
            result = decide_request(
                store, arguments.request_id, arguments.reason_code, by, now, may_alter=may_alter
            )
    except (DecisionError, MissingColumnError) as error:
        print(str(error), file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0


def _parser() -> argparse.ArgumentParser:
    from airflow_provider_personalize_deletion.erasure.decisions import REASON_CODES

    parser = argparse.ArgumentParser(prog="personalize-deletion-requests", description=__doc__.split("\n")[1])
    parser.add_argument("--by", help="who decides (default: the shell's login name)")
    commands = parser.add_subparsers(dest="command", required=True)
    extend = commands.add_parser("extend", help="extend a pending request's deadline by 1 or 2 months")
    extend.add_argument("request_id")
    extend.add_argument("--months", type=int, required=True, help="the extension: 1 or 2 (once)")
    extend.add_argument("--reason", required=True, help="why (told to the person; no personal data)")
    decide = commands.add_parser("decide", help="refuse a pending request, or record it cannot be fulfilled")
    decide.add_argument("request_id")
    decide.add_argument("--reason-code", required=True, help=f"one of: {', '.join(REASON_CODES)}")
    return parser


if __name__ == "__main__":
    sys.exit(main())
