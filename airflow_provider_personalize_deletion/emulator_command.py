"""
``personalize-deletion-emulator``: the console script's entry point, which says which extra to install.

The emulator package imports moto, flask and werkzeug when it is imported; they come with the
``[emulator]`` extra only. This module, outside that package, imports the command line of
:mod:`.emulator.cli` and turns a missing extra into one line on stderr and exit code 1, not a traceback.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

#: The top-level modules the ``[emulator]`` extra brings.
EXTRA_MODULES = frozenset({"moto", "flask", "flask_cors", "werkzeug"})
MISSING_EXTRA = (
    "personalize-deletion-emulator needs the [emulator] extra (missing module {module!r}): "
    "pip install 'airflow-provider-personalize-deletion[emulator]'"
)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the emulator's command line, or say which extra to install.

    :param argv: the command line arguments; None reads ``sys.argv``.
    :return: 1 when the ``[emulator]`` extra is missing, else 0 once the emulator stopped.
    """
    try:
        with warnings.catch_warnings():
            # moto warns "install moto[server]" before it raises: the extra to name is this package's.
            warnings.simplefilter("ignore")
            from airflow_provider_personalize_deletion.emulator import cli
    except ModuleNotFoundError as error:
        module = (error.name or "").partition(".")[0]
        if module not in EXTRA_MODULES:
            raise
        print(MISSING_EXTRA.format(module=module), file=sys.stderr)
        return 1
    cli.main(argv)
    return 0
