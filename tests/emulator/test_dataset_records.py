"""Datasets hold records per user, in the emulator: import jobs read their CSV from S3 (FULL replaces the
bulk records, INCREMENTAL adds), PutEvents/PutUsers add put records, deletion jobs remove a user's records,
and export jobs write the records of an ingestion mode as CSV files. Erased, re-imported, found again."""

from __future__ import annotations

import csv
import io

import pytest

from tests.core.conftest import SCHEMA_ARN
from tests.emulator.conftest import BUCKET, ROLE_ARN
from tests.emulator.test_dataset_group_activity import statuses_seen

EXPORTS = "exports"
HEADER = "USER_ID,ITEM_ID,TIMESTAMP\n"


@pytest.fixture
def group(emulator):
    return emulator.create_dataset_group("shop")


@pytest.fixture
def interactions(personalize, group):
    return personalize.create_dataset(
        name="shop-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]


@pytest.fixture
def users_dataset(personalize, group):
    return personalize.create_dataset(
        name="shop-users", schemaArn=SCHEMA_ARN, datasetGroupArn=group, datasetType="Users"
    )["datasetArn"]


@pytest.fixture
def put_file(s3_client, bucket):
    """Write an object of the import bucket; return its ``s3://`` URI."""

    def put(key: str, body: str | bytes) -> str:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return f"s3://{bucket}/{key}"

    return put


@pytest.fixture
def run_import(personalize):
    """Create an import job and describe it once (with zero timings, it has run)."""

    def run(dataset: str, location: str, mode: str = "FULL", name: str = "import-1") -> dict:
        arn = personalize.create_dataset_import_job(
            jobName=name, datasetArn=dataset, dataSource={"dataLocation": location}, roleArn=ROLE_ARN,
            importMode=mode,
        )["datasetImportJobArn"]  # fmt: skip
        return personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]

    return run


@pytest.fixture
def exports_bucket(s3_client):
    s3_client.create_bucket(Bucket=EXPORTS)
    return EXPORTS


@pytest.fixture
def run_export(personalize, exports_bucket):
    """Create an export job to ``s3://exports/out/`` and describe it once (with zero timings, it has run)."""

    def run(dataset: str, mode: str | None = None, name: str = "export-1", path: str = "") -> dict:
        arn = personalize.create_dataset_export_job(
            jobName=name, datasetArn=dataset, roleArn=ROLE_ARN,
            jobOutput={"s3DataDestination": {"path": path or f"s3://{exports_bucket}/out/"}},
            **({"ingestionMode": mode} if mode else {}),
        )["datasetExportJobArn"]  # fmt: skip
        return personalize.describe_dataset_export_job(datasetExportJobArn=arn)["datasetExportJob"]

    return run


@pytest.fixture
def exported(s3_client, exports_bucket):
    """The records of an export job's files (under ``out/<job name>/``), and how many files there were."""

    def read(job_name: str = "export-1") -> tuple[list[dict[str, str]], int]:
        listing = s3_client.list_objects_v2(Bucket=exports_bucket, Prefix=f"out/{job_name}/")
        keys = sorted(item["Key"] for item in listing.get("Contents", []))
        records = []
        for key in keys:
            body = s3_client.get_object(Bucket=exports_bucket, Key=key)["Body"].read().decode()
            records.extend(csv.DictReader(io.StringIO(body, newline="")))
        return records, len(keys)

    return read


def users_of(records: list[dict[str, str]]) -> set[str]:
    return {record["USER_ID"] for record in records}


def erase(personalize, put_file, group: str, user_ids: list[str], name: str = "erase-1") -> dict:
    location = put_file(f"erase/{name}.csv", "USER_ID\n" + "".join(f"{user}\n" for user in user_ids))
    arn = personalize.create_data_deletion_job(
        jobName=name, datasetGroupArn=group, dataSource={"dataLocation": location}, roleArn=ROLE_ARN
    )["dataDeletionJobArn"]
    return personalize.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"]


# Imports


def test_an_import_reads_its_csv_and_the_dataset_holds_the_records(
    emulator, interactions, put_file, run_import
):
    job = run_import(interactions, put_file("in.csv", HEADER + "alice,i1,1\nbob,i2,2\n"))

    assert (job["status"], job["importMode"]) == ("ACTIVE", "FULL")
    assert emulator.records(interactions, "BULK") == [
        {"USER_ID": "alice", "ITEM_ID": "i1", "TIMESTAMP": "1"},
        {"USER_ID": "bob", "ITEM_ID": "i2", "TIMESTAMP": "2"},
    ]


def test_a_full_import_replaces_the_bulk_records_and_keeps_the_put_ones(
    emulator, group, interactions, put_file, run_import
):
    run_import(interactions, put_file("day-1.csv", HEADER + "alice,i1,1\n"), name="day-1")
    emulator.put_events(group, "carol", ["i9"])

    run_import(interactions, put_file("day-2.csv", HEADER + "bob,i2,2\n"), name="day-2")

    assert users_of(emulator.records(interactions, "BULK")) == {"bob"}
    assert users_of(emulator.records(interactions, "PUT")) == {"carol"}


def test_an_incremental_import_adds_interactions(emulator, interactions, put_file, run_import):
    run_import(interactions, put_file("day-1.csv", HEADER + "alice,i1,1\n"), name="day-1")

    run_import(interactions, put_file("day-2.csv", HEADER + "alice,i2,2\n"), "INCREMENTAL", "day-2")

    assert [record["ITEM_ID"] for record in emulator.records(interactions)] == ["i1", "i2"]


def test_an_incremental_import_replaces_a_user_record_by_user_id(
    emulator, users_dataset, put_file, run_import
):
    run_import(users_dataset, put_file("u-1.csv", "USER_ID,TIER\nalice,silver\nbob,gold\n"), name="u-1")

    run_import(users_dataset, put_file("u-2.csv", "USER_ID,TIER\nalice,gold\n"), "INCREMENTAL", "u-2")

    assert emulator.records(users_dataset) == [
        {"USER_ID": "bob", "TIER": "gold"},
        {"USER_ID": "alice", "TIER": "gold"},
    ]


def test_a_folder_import_reads_every_file_below_it_and_not_a_look_alike_prefix(
    emulator, interactions, put_file, run_import
):
    put_file("data/2024/part-1.csv", HEADER + "alice,i1,1\n")
    put_file("data/2024/12/part-2.csv", HEADER + "bob,i2,2\n")
    put_file("data_old/part-3.csv", HEADER + "carol,i3,3\n")

    run_import(interactions, f"s3://{BUCKET}/data/")

    assert users_of(emulator.records(interactions)) == {"alice", "bob"}


def test_quoted_fields_with_commas_newlines_and_escaped_quotes_are_one_value_each(
    emulator, interactions, put_file, run_import
):
    body = '\ufeffUSER_ID,ITEM_ID,TIMESTAMP\r\n"a,b",i1,1\r\n"two\nlines",i2,2\r\n"say \\"hi\\"",i3,3\r\n'

    job = run_import(interactions, put_file("in.csv", body))

    assert job["status"] == "ACTIVE"
    assert users_of(emulator.records(interactions)) == {"a,b", "two\nlines", 'say "hi"'}


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("missing.csv", None, f"Input data not found at s3://{BUCKET}/missing.csv. Check the data location."),
        ("no-user.csv", "ITEM_ID,TIMESTAMP\ni1,1\n", "has no USER_ID column"),
        ("short.csv", HEADER + "alice,i1,1\nbob,i2\n", f"Record 2 of the input file s3://{BUCKET}/short.csv"),
        ("latin1.csv", (HEADER + "j\u00fcrgen,i1,1\n").encode("latin-1"), "is not UTF-8 encoded"),
        ("empty.csv", b"", "is empty: it needs a header row"),
        ("long.csv", HEADER + "u" * 257 + ",i1,1\n", "longer than 256 characters"),
        ("blank.csv", HEADER + ",i1,1\n", "has an empty USER_ID"),
    ],
)  # fmt: skip
def test_an_import_that_breaks_a_rule_ends_create_failed_with_the_reason_and_imports_nothing(
    key, body, reason, emulator, interactions, put_file, run_import
):
    location = put_file(key, body) if body is not None else f"s3://{BUCKET}/{key}"

    job = run_import(interactions, location)

    assert job["status"] == "CREATE FAILED"
    assert reason in job["failureReason"]
    assert "alice" not in job["failureReason"]
    assert emulator.records(interactions) == []


def test_an_import_from_a_missing_bucket_fails_naming_the_bucket(interactions, run_import):
    job = run_import(interactions, "s3://no-such-bucket/in.csv")

    assert (job["status"], job["failureReason"]) == (
        "CREATE FAILED",
        "Input data not found at s3://no-such-bucket/in.csv: the bucket no-such-bucket does not exist.",
    )


def test_an_import_goes_create_pending_in_progress_then_reads_its_input(
    emulator, interactions, put_file, personalize
):
    emulator.hold("import-1", "CREATE IN_PROGRESS")
    location = put_file("in.csv", HEADER + "alice,i1,1\n")
    arn = personalize.create_dataset_import_job(
        jobName="import-1", datasetArn=interactions, dataSource={"dataLocation": location}, roleArn=ROLE_ARN
    )["datasetImportJobArn"]

    def status() -> str:
        return personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]["status"]

    held, records_while_held = status(), emulator.records(interactions)
    emulator.release("import-1")

    assert (held, records_while_held, status()) == ("CREATE IN_PROGRESS", [], "ACTIVE")
    assert users_of(emulator.records(interactions)) == {"alice"}


# Deletion jobs


def test_a_deletion_job_removes_bulk_and_put_records_from_every_dataset_of_its_group(
    emulator, personalize, group, interactions, users_dataset, put_file, run_import
):
    run_import(interactions, put_file("in.csv", HEADER + "alice,i1,1\nbob,i2,2\n"))
    emulator.put_events(group, "alice", ["i3"])
    emulator.put_users(users_dataset, {"alice": {"tier": "gold"}, "carol": {"tier": "silver"}})

    job = erase(personalize, put_file, group, ["alice", "carol", "zoe"])

    assert (job["status"], job["numDeleted"]) == ("COMPLETED", 2)  # zoe was never there
    assert users_of(emulator.records(interactions)) == {"bob"}
    assert emulator.records(users_dataset) == []
    assert emulator.users(group) == {"bob"}


# The whole path: erased, re-imported, found again


@pytest.mark.parametrize("mode", ["FULL", "INCREMENTAL"])
def test_an_erased_user_reimported_is_back_and_an_all_export_shows_them(
    mode, emulator, personalize, group, interactions, put_file, run_import, run_export, exported
):
    history = put_file("lake/interactions.csv", HEADER + "alice,i1,1\nbob,i2,2\n")
    run_import(interactions, history, name="initial")
    erase(personalize, put_file, group, ["alice"])
    erased = emulator.users(group)

    run_import(interactions, history, mode, name="reimport")
    job = run_export(interactions, "ALL")

    assert "alice" not in erased
    assert job["status"] == "ACTIVE"
    records, _ = exported()
    assert [record for record in records if record["USER_ID"] == "alice"] == [
        {"USER_ID": "alice", "ITEM_ID": "i1", "TIMESTAMP": "1"}
    ]
    assert "alice" in emulator.users(group)


def test_a_put_only_reappearance_shows_in_all_and_put_exports_but_not_in_a_bulk_export(
    emulator, personalize, group, interactions, put_file, run_import, run_export, exported
):
    run_import(interactions, put_file("in.csv", HEADER + "alice,i1,1\nbob,i2,2\n"))
    erase(personalize, put_file, group, ["alice"])
    emulator.put_events(group, "alice", ["i7"])

    for mode in ("ALL", "PUT", "BULK"):
        run_export(interactions, mode, name=f"export-{mode.lower()}")

    found = {mode: users_of(exported(f"export-{mode.lower()}")[0]) for mode in ("ALL", "PUT", "BULK")}
    assert found == {"ALL": {"alice", "bob"}, "PUT": {"alice"}, "BULK": {"bob"}}


# Exports


def test_an_export_defaults_to_put_and_describes_its_output(emulator, group, interactions, run_export):
    job = run_export(interactions, path="s3://exports/out/")

    assert (job["ingestionMode"], job["jobOutput"]["s3DataDestination"]["path"], job["datasetArn"]) == (
        "PUT",
        "s3://exports/out/",
        interactions,
    )


def test_an_export_splits_its_records_into_part_files_each_with_the_header(
    emulator, interactions, put_file, run_import, run_export, s3_client
):
    emulator.set_export_part_size(2)
    run_import(interactions, put_file("in.csv", HEADER + "".join(f"u{n},i{n},{n}\n" for n in range(5))))

    run_export(interactions, "BULK", path="s3://exports/out")  # no trailing slash: the same folder

    listing = s3_client.list_objects_v2(Bucket=EXPORTS, Prefix="out/")["Contents"]
    keys = [item["Key"] for item in listing]
    assert keys == [f"out/export-1/part-0000{n}.csv" for n in range(3)]
    bodies = [s3_client.get_object(Bucket=EXPORTS, Key=key)["Body"].read().decode() for key in keys]
    assert bodies == [HEADER + "u0,i0,0\nu1,i1,1\n", HEADER + "u2,i2,2\nu3,i3,3\n", HEADER + "u4,i4,4\n"]


def test_an_empty_export_writes_one_file_with_the_header(interactions, run_export, exported, s3_client):
    run_export(interactions, "ALL")

    body = s3_client.get_object(Bucket=EXPORTS, Key="out/export-1/part-00000.csv")["Body"].read()
    assert (body, exported()) == (b"USER_ID\n", ([], 1))


def test_an_export_quotes_values_that_need_it_and_they_read_back_whole(
    emulator, interactions, run_export, exported
):
    emulator.seed_records(interactions, [{"USER_ID": 'a,"b"\nc', "ITEM_ID": "i1", "TIMESTAMP": "1"}])

    run_export(interactions, "BULK")

    assert users_of(exported()[0]) == {'a,"b"\nc'}


def test_an_export_goes_create_pending_in_progress_active(
    emulator, interactions, personalize, exports_bucket
):
    emulator.set_activity_timings(pending_seconds=0.2, in_progress_seconds=0.2)
    arn = personalize.create_dataset_export_job(
        jobName="export-1", datasetArn=interactions, roleArn=ROLE_ARN,
        jobOutput={"s3DataDestination": {"path": f"s3://{exports_bucket}/out/"}},
    )["datasetExportJobArn"]  # fmt: skip

    def status(arn: str) -> str:
        return personalize.describe_dataset_export_job(datasetExportJobArn=arn)["datasetExportJob"]["status"]

    assert statuses_seen(status, arn) == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]


def test_an_export_to_a_missing_bucket_fails_naming_the_bucket(interactions, run_export):
    job = run_export(interactions, "ALL", path="s3://no-such-bucket/out/")

    assert (job["status"], job["failureReason"]) == (
        "CREATE FAILED",
        "Cannot write to s3://no-such-bucket/out/export-1/: the bucket no-such-bucket does not exist.",
    )


def test_an_export_to_a_denied_path_fails_access_denied_and_writes_nothing(
    emulator, interactions, run_export, exported
):
    emulator.seed_records(interactions, [{"USER_ID": "alice", "ITEM_ID": "i1", "TIMESTAMP": "1"}])
    emulator.deny_path("s3://exports/out/")

    job = run_export(interactions, "ALL")

    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"].startswith("Access denied: the role")
    assert exported() == ([], 0)


def test_an_import_from_a_denied_path_fails_access_denied(emulator, interactions, put_file, run_import):
    location = put_file("private/in.csv", HEADER + "alice,i1,1\n")
    emulator.deny_path(f"s3://{BUCKET}/private/")

    job = run_import(interactions, location)

    assert (job["status"], "cannot read" in job["failureReason"]) == ("CREATE FAILED", True)


def test_a_sixth_running_export_is_limit_exceeded_until_one_ends(
    emulator, interactions, personalize, run_export, exports_bucket
):
    for n in range(5):
        emulator.hold(f"held-{n}", "CREATE PENDING")
        run_export(interactions, "ALL", name=f"held-{n}")

    with pytest.raises(personalize.exceptions.LimitExceededException, match="5 dataset export jobs"):
        run_export(interactions, "ALL", name="sixth")
    emulator.release("held-0")

    assert run_export(interactions, "ALL", name="sixth")["status"] == "ACTIVE"


def test_an_actions_dataset_cannot_be_exported(personalize, group, run_export):
    actions = personalize.create_dataset(
        name="shop-actions", schemaArn=SCHEMA_ARN, datasetGroupArn=group, datasetType="Actions"
    )["datasetArn"]

    with pytest.raises(personalize.exceptions.InvalidInputException, match="ACTIONS cannot be exported"):
        run_export(actions, "ALL")


def test_an_unknown_ingestion_mode_is_invalid_input_naming_the_member(interactions, personalize, run_export):
    with pytest.raises(
        personalize.exceptions.InvalidInputException, match="'ingestionMode': must be one of BULK, PUT, ALL"
    ):
        run_export(interactions, "EVERYTHING")


def test_an_export_of_an_unknown_dataset_is_resource_not_found(group, personalize, run_export):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        run_export(group.replace("dataset-group/", "dataset/") + "/USERS", "ALL")


# Lists


def test_export_jobs_list_by_dataset_newest_first_in_pages(
    emulator, personalize, interactions, users_dataset, run_export
):
    for n in range(3):
        run_export(interactions, "ALL", name=f"interactions-{n}")
    run_export(users_dataset, "ALL", name="users-0")
    emulator.set_max_page_size(2)

    pages = list(personalize.get_paginator("list_dataset_export_jobs").paginate(datasetArn=interactions))

    names = [job["jobName"] for page in pages for job in page["datasetExportJobs"]]
    assert (len(pages), names) == (2, ["interactions-2", "interactions-1", "interactions-0"])


def test_datasets_list_by_group_in_pages_with_their_type(
    emulator, personalize, group, interactions, users_dataset
):
    other = emulator.create_dataset_group("other")
    personalize.create_dataset(
        name="other-users", schemaArn=SCHEMA_ARN, datasetGroupArn=other, datasetType="Users"
    )
    emulator.set_max_page_size(1)

    pages = list(personalize.get_paginator("list_datasets").paginate(datasetGroupArn=group))

    listed = [(item["datasetArn"], item["datasetType"]) for page in pages for item in page["datasets"]]
    assert (len(pages), listed) == (2, [(users_dataset, "Users"), (interactions, "Interactions")])
    assert personalize.describe_dataset(datasetArn=users_dataset)["dataset"]["datasetType"] == "Users"


# Real-time ingestion through the control API


def test_put_users_replaces_the_user_put_record_and_maps_properties_to_fields(emulator, users_dataset):
    emulator.put_users(users_dataset, {"alice": {"membershipTier": "silver"}})
    emulator.put_users(users_dataset, {"alice": {"membershipTier": "gold"}})

    assert emulator.records(users_dataset, "PUT") == [{"USER_ID": "alice", "MEMBERSHIP_TIER": "gold"}]


def test_put_events_needs_an_interactions_dataset(emulator, group):
    from airflow_provider_personalize_deletion.emulator import EmulatorControlError

    with pytest.raises(EmulatorControlError, match="Interactions dataset"):
        emulator.put_events(group, "alice", ["i1"])


def test_an_export_with_a_kms_key_encrypts_its_files_with_it(
    interactions, personalize, s3_client, exports_bucket
):
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    personalize.create_dataset_export_job(
        jobName="export-1", datasetArn=interactions, roleArn=ROLE_ARN,
        jobOutput={"s3DataDestination": {"path": f"s3://{exports_bucket}/out/", "kmsKeyArn": key_arn}},
    )  # fmt: skip
    personalize.list_dataset_export_jobs()  # a read: the zero-timing job runs

    head = s3_client.head_object(Bucket=exports_bucket, Key="out/export-1/part-00000.csv")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn)
