"""
The emulator refuses what a web page could send it: a foreign Host (DNS rebinding) on every route, and any
cross-origin request (CSRF); AWS SDKs and the control client, which send neither, keep working.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws
from airflow_provider_personalize_deletion.emulator.cli import parse_args

FORGED_HOST = "rebinding.evil.example"


def _request(
    aws: LocalAws, method: str, path: str, headers: dict[str, str], body: dict | None = None
) -> tuple[int, bytes]:
    """Send one request with exactly these headers (a ``Host`` among them replaces the default one)."""
    connection = http.client.HTTPConnection("127.0.0.1", aws.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        payload = json.dumps(body).encode() if body is not None else b""
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            connection.putheader(name, value)
        connection.endheaders(payload)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _control(
    aws: LocalAws, command: str, headers: dict[str, str], body: dict | None = None
) -> tuple[int, bytes]:
    return _request(
        aws, "POST", f"/_emulator/{command}", {"Content-Type": "application/json", **headers}, body
    )


def _personalize(
    aws: LocalAws, action: str, headers: dict[str, str], body: dict | None = None
) -> tuple[int, bytes]:
    personalize_headers = {
        "X-Amz-Target": f"AmazonPersonalize.{action}",
        "Content-Type": "application/x-amz-json-1.1",
    }
    return _request(aws, "POST", "/", {**personalize_headers, **headers}, body or {})


def _s3_list(aws: LocalAws, bucket: str, headers: dict[str, str]) -> tuple[int, bytes]:
    scope = "Credential=testing/20250101/us-east-1/s3/aws4_request"
    authorization = f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature=0"
    return _request(aws, "GET", f"/{bucket}?list-type=2", {"Authorization": authorization, **headers})


@pytest.fixture
def group_with_users(emulator: EmulatorClient) -> str:
    return emulator.create_dataset_group("shop", ["customer-4711"])


@pytest.fixture
def object_with_users(s3_client, bucket: str) -> str:
    s3_client.put_object(Bucket=bucket, Key="erase/customer-4711.csv", Body=b"USER_ID\ncustomer-4711\n")
    return bucket


def test_a_forged_host_cannot_read_the_users_through_the_control_api(local_aws, group_with_users):
    status, body = _control(
        local_aws, "users", {"Host": f"{FORGED_HOST}:{local_aws.port}"}, {"datasetGroupArn": group_with_users}
    )

    assert (status, b"customer-4711" in body) == (403, False)


def test_a_forged_host_cannot_call_the_personalize_api(local_aws, group_with_users):
    status, body = _personalize(local_aws, "ListDatasetGroups", {"Host": f"{FORGED_HOST}:{local_aws.port}"})

    assert (status, b"shop" in body) == (403, False)


def test_a_forged_host_cannot_list_s3_objects(local_aws, object_with_users):
    status, body = _s3_list(local_aws, object_with_users, {"Host": f"{FORGED_HOST}:{local_aws.port}"})

    assert (status, b"customer-4711" in body) == (403, False)


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("127.0.0.1:{port}", id="ipv4-loopback"),
        pytest.param("localhost:{port}", id="localhost"),
        pytest.param("LocalHost:{port}", id="localhost-any-case"),
        pytest.param("[::1]:{port}", id="ipv6-loopback"),
    ],
)
def test_the_loopback_addresses_on_the_served_port_are_answered(local_aws, emulator, host):
    status, _ = _personalize(local_aws, "ListDatasetGroups", {"Host": host.format(port=local_aws.port)})

    assert status == 200


def test_s3_virtual_hosted_addressing_under_localhost_is_answered(local_aws, object_with_users):
    status, body = _s3_list(local_aws, "", {"Host": f"{object_with_users}.localhost:{local_aws.port}"})

    assert (status, b"customer-4711" in body) == (200, True)


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("127.0.0.1:{other_port}", id="loopback-on-another-port"),
        pytest.param("127.0.0.1", id="loopback-without-port"),
        pytest.param("localhost.:{port}", id="localhost-fqdn"),
        pytest.param("localhost.evil.example:{port}", id="localhost-prefix"),
        pytest.param("user@127.0.0.1:{port}", id="userinfo"),
        pytest.param("", id="empty"),
    ],
)
def test_other_hosts_are_refused(local_aws, emulator, host):
    forged = host.format(port=local_aws.port, other_port=local_aws.port + 1)

    assert _personalize(local_aws, "ListDatasetGroups", {"Host": forged})[0] == 403


def test_a_request_without_host_is_refused(local_aws, emulator):
    connection = http.client.HTTPConnection("127.0.0.1", local_aws.port, timeout=10)
    connection.putrequest("POST", "/_emulator/jobs", skip_host=True)
    connection.putheader("Content-Length", "0")
    connection.endheaders()

    assert connection.getresponse().status == 403


def test_the_refusal_names_the_rule_and_does_not_echo_the_header(local_aws, emulator):
    status, body = _control(local_aws, "jobs", {"Host": f"{FORGED_HOST}:{local_aws.port}"})

    error = json.loads(body)["error"]
    assert (status, "Host header" in error, FORGED_HOST in error) == (403, True, False)


def test_a_cross_origin_post_cannot_create_a_dataset_group(local_aws, emulator, personalize):
    status, body = _control(
        local_aws,
        "create-dataset-group",
        {"Origin": "http://evil.example"},
        {"name": "planted", "userIds": []},
    )

    error = json.loads(body)["error"]
    assert (status, "cross-origin" in error, "evil.example" in error) == (403, True, False)
    assert personalize.list_dataset_groups()["datasetGroups"] == []


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("http://localhost:{other_port}", id="another-local-port"),
        pytest.param("https://127.0.0.1:{port}", id="https-scheme"),
        pytest.param("null", id="opaque-origin"),
    ],
)
def test_other_origins_are_refused_on_every_route(local_aws, emulator, origin):
    header = {"Origin": origin.format(port=local_aws.port, other_port=local_aws.port + 1)}

    assert _personalize(local_aws, "ListDatasetGroups", header)[0] == 403


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site"])
def test_a_request_a_browser_marks_as_from_another_origin_is_refused(local_aws, emulator, fetch_site):
    status, _ = _control(local_aws, "reset", {"Sec-Fetch-Site": fetch_site})

    assert status == 403


def test_a_same_origin_browser_request_is_answered(local_aws, emulator):
    same_origin = {"Origin": f"http://localhost:{local_aws.port}", "Sec-Fetch-Site": "same-origin"}

    status, body = _control(local_aws, "jobs", {"Host": f"localhost:{local_aws.port}", **same_origin})

    assert (status, json.loads(body)) == (200, {"jobs": []})


def test_the_control_api_refuses_get_so_a_link_cannot_reset_the_emulator(
    local_aws, emulator, group_with_users
):
    status, _ = _request(local_aws, "GET", "/_emulator/reset", {})

    assert (status, emulator.users(group_with_users)) == (405, {"customer-4711"})


def test_allowed_hosts_add_a_name_on_the_served_port_and_an_exact_authority():
    with LocalAws(timings=JobTimings(0, 0), allowed_hosts=["emulator", "localhost:5000"]) as aws:
        statuses = [
            _personalize(aws, "ListDatasetGroups", {"Host": host})[0]
            for host in (f"emulator:{aws.port}", "localhost:5000", "emulator:5000", f"other:{aws.port}")
        ]

    assert statuses == [200, 200, 403, 403]


def test_the_hostname_the_emulator_is_started_with_is_answered():
    with LocalAws(host="localhost", timings=JobTimings(0, 0)) as aws:
        status, _ = _personalize(aws, "ListDatasetGroups", {"Host": f"localhost:{aws.port}"})
        refused, _ = _personalize(aws, "ListDatasetGroups", {"Host": f"{FORGED_HOST}:{aws.port}"})

    assert (status, refused) == (200, 403)


@pytest.mark.parametrize("entry", ["http://emulator", "user@emulator", "emulator/path", "emulator:99999", ""])
def test_an_allowed_host_that_is_not_host_or_host_port_is_refused(entry):
    with pytest.raises(ValueError, match=r"allowed_hosts\[1\] must be HOST or HOST:PORT") as raised:
        LocalAws(allowed_hosts=["emulator", entry])

    assert entry == "" or entry not in str(raised.value)


def test_the_cli_takes_allowed_hosts_and_binds_loopback_by_default():
    args = parse_args(["--allow-host", "emulator", "--allow-host", "localhost:5000"])

    assert (args.host, args.allow_host) == ("127.0.0.1", ["emulator", "localhost:5000"])


def test_the_cli_refuses_a_malformed_allowed_host(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--allow-host", "http://emulator"])

    assert "--allow-host: must be HOST or HOST:PORT" in capsys.readouterr().err


def test_the_console_script_answers_an_allowed_host():
    process = subprocess.Popen(
        [
            Path(sys.executable).with_name("personalize-deletion-emulator"),
            "--port",
            "0",
            "--allow-host",
            "emulator",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline().strip().rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/_emulator/jobs", headers={"Host": f"emulator:{port}"})
        status = connection.getresponse().status
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert status == 200
