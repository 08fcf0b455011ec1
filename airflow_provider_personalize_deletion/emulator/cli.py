"""
``personalize-deletion-emulator``: run the local AWS emulator until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from typing import Any

from airflow_provider_personalize_deletion.emulator.personalize import JobTimings
from airflow_provider_personalize_deletion.emulator.request_guard import parse_extra_hosts
from airflow_provider_personalize_deletion.emulator.server import DEFAULT_MAX_INPUT_BYTES, LocalAws


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """:param argv: the command line arguments; None reads ``sys.argv``."""
    defaults = JobTimings()
    parser = argparse.ArgumentParser(
        prog="personalize-deletion-emulator",
        description="S3 and the Amazon Personalize data deletion API on one local endpoint.",
        epilog=(
            "The emulator has no authentication and holds user ids. It refuses (403) every request whose "
            "Host header is not 127.0.0.1, localhost or [::1] on its port, the --host it is bound to, or "
            "an --allow-host; and every request a browser sends from another origin (an Origin header "
            "that is not the emulator's, Sec-Fetch-Site cross-site or same-site). This keeps web pages "
            "from driving it (CSRF) or reading it through DNS rebinding. Inside a container: "
            "--host 0.0.0.0 --allow-host SERVICE_NAME, and --allow-host localhost:PUBLISHED_PORT if "
            "docker publishes it on another port."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (default: %(default)s, reachable from this machine only)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-host", action="append", default=[], type=_allowed_host, metavar="HOST[:PORT]",
        help="also answer requests whose Host header is HOST (on the served port) or HOST:PORT, e.g. the "
        "name other containers reach the emulator by; repeat for more hosts",
    )  # fmt: skip
    parser.add_argument(
        "--port", type=int, default=4566, help="port to bind, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument("--region", default="us-east-1", help="region of the ARNs (default: %(default)s)")
    parser.add_argument(
        "--pending-seconds", type=float, default=defaults.pending_seconds,
        help="how long a job stays PENDING (also import jobs, trainings, recommenders, batch jobs in their "
        "pending status) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--in-progress-seconds", type=float, default=defaults.in_progress_seconds,
        help="how long a job stays IN_PROGRESS (also import jobs, trainings, recommenders, batch jobs in "
        "their in-progress status) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-input-bytes", type=int, default=DEFAULT_MAX_INPUT_BYTES,
        help="largest total size of a job's input files (default: %(default)s)",
    )  # fmt: skip
    return parser.parse_args(argv)


def _allowed_host(value: str) -> str:
    try:
        parse_extra_hosts([value])
    except ValueError:
        raise argparse.ArgumentTypeError("must be HOST or HOST:PORT (an IPv6 address in brackets)") from None
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """
    Start the emulator, print how to use it, and serve until interrupted.

    :param argv: the command line arguments; None reads ``sys.argv``.
    """
    args = parse_args(argv)
    stopped = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timings = JobTimings(args.pending_seconds, args.in_progress_seconds)
    with LocalAws(args.host, args.port, timings, args.max_input_bytes, args.region, args.allow_host) as aws:
        print(f"Emulator listening on {aws.endpoint_url}", flush=True)
        print(
            f"Use it with: export AWS_ENDPOINT_URL={aws.endpoint_url} AWS_ACCESS_KEY_ID=testing "
            f"AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={aws.region}\n"
            f"Airflow: export AIRFLOW_CONN_AWS_DEFAULT='{aws.airflow_conn_uri()}'\n"
            f"Control API: curl -X POST {aws.endpoint_url}/_emulator/jobs\n"
            "Stop with Ctrl-C.",
            flush=True,
        )
        stopped.wait()
    print("Emulator stopped.", flush=True)
