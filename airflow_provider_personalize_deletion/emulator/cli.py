"""
``personalize-deletion-emulator``: run the local AWS emulator until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.emulator.control import EmulatorControlError
from airflow_provider_personalize_deletion.emulator.personalize import JobTimings
from airflow_provider_personalize_deletion.emulator.request_guard import parse_extra_hosts
from airflow_provider_personalize_deletion.emulator.server import (
    ACCESS_KEY_ID,
    DEFAULT_MAX_INPUT_BYTES,
    SECRET_ACCESS_KEY,
    LocalAws,
)
from airflow_provider_personalize_deletion.transfers.parameters import (
    InvalidTransferParameterError,
    check_bucket_name,
)
from airflow_provider_personalize_deletion.utils.service_model import find_violations


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
        "--bucket", action="append", default=[], metavar="NAME",
        help="create this S3 bucket with SSE-S3 default encryption at start; repeat for more buckets",
    )  # fmt: skip
    parser.add_argument(
        "--dataset-group", action="append", default=[], metavar="NAME",
        help="create this ACTIVE dataset group at start and print its ARN; repeat for more groups",
    )  # fmt: skip
    parser.add_argument(
        "--users", type=_user_ids, default=[], metavar="FILE",
        help="a text file of user ids, one per line, that every --dataset-group holds (so a deletion "
        "job's numDeleted counts them); without it the groups hold no user",
    )  # fmt: skip
    parser.add_argument(
        "--max-input-bytes", type=int, default=DEFAULT_MAX_INPUT_BYTES,
        help="largest total size of a job's input files (default: %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for option, values, check in (
        ("--bucket", args.bucket, _bucket_problem),
        ("--dataset-group", args.dataset_group, _group_problem),
    ):
        for value in values:
            if problem := check(value):
                parser.error(f"argument {option}: {problem}")
        if len(set(values)) < len(values):
            parser.error(f"argument {option}: each name may be given once")
    return args


def _bucket_problem(name: str) -> str | None:
    try:
        check_bucket_name(name)
    except InvalidTransferParameterError as error:
        return str(error).removeprefix("Invalid s3_bucket: ")
    return None


def _group_problem(name: str) -> str | None:
    violations = find_violations("CreateDatasetGroup", {"name": name})
    return f"a dataset group name: {violations[0].rule}" if violations else None


def _user_ids(path: str) -> list[str]:
    """The user ids of a text file, one per line (blank lines skipped, never printed)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as lines:
            return [line.rstrip("\r\n") for line in lines if line.strip()]
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {error.strerror}") from None


def _allowed_host(value: str) -> str:
    try:
        parse_extra_hosts([value])
    except ValueError:
        raise argparse.ArgumentTypeError("must be HOST or HOST:PORT (an IPv6 address in brackets)") from None
    return value


VARIABLE_BUCKET = "personalize_erasure_bucket"


def seed(aws: LocalAws, buckets: Sequence[str], groups: Sequence[str], user_ids: Sequence[str]) -> list[str]:
    """
    Create the buckets (SSE-S3) and dataset groups asked for on the command line.

    :param aws: the running emulator.
    :param buckets: names of the buckets to create.
    :param groups: names of the dataset groups to create.
    :param user_ids: the user ids every new dataset group holds.
    :return: the lines that tell the user what was created and how to point Airflow at it.
    """
    from moto.core import DEFAULT_ACCOUNT_ID

    lines = []
    if buckets:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=aws.endpoint_url,
            region_name=aws.region,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        for bucket in buckets:
            if aws.region == "us-east-1":  # the one region S3 refuses a location constraint for
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})  # type: ignore[typeddict-item]
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            lines.append(f"Bucket {bucket} (SSE-S3): airflow variables set {VARIABLE_BUCKET} {bucket}")
    arns = [aws.client.create_dataset_group(name, user_ids) for name in groups]
    for name, arn in zip(groups, arns, strict=True):
        lines.append(f"Dataset group {name} ({len(set(user_ids))} user(s)): {arn}")
    if arns:
        lines.append(f"airflow variables set personalize_erasure_dataset_group_arns '{json.dumps(arns)}'")
        lines.append(
            "Any role ARN of the right form is accepted: airflow variables set personalize_erasure_role_arn "
            f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/PersonalizeDeletion"
        )
    return lines


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
        try:
            lines = seed(aws, args.bucket, args.dataset_group, args.users)
        except (ClientError, EmulatorControlError) as error:
            sys.exit(f"personalize-deletion-emulator: could not create what was asked for: {error}")
        for line in lines:
            print(line, flush=True)
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
