"""Settings of an erasure run: params, then Variables, then defaults; validated before any AWS call."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.erasure.settings import (
    ErasureSettings,
    check_conf,
    resolve_settings,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeDeletion"


def variables(**values):
    return lambda key: values.get(key.removeprefix("personalize_erasure_"))


def test_a_param_wins_over_a_variable_which_wins_over_the_default():
    settings = resolve_settings(
        {"dataset_group_arns": [GROUP], "bucket": ""},
        variables(dataset_group_arns=["ignored"], role_arn=ROLE, bucket="from-variable"),
    )
    assert settings.dataset_group_arns == (GROUP,)
    assert settings.role_arn == ROLE
    assert settings.bucket == "from-variable"
    assert settings.key_prefix == "erasure-runs"


def test_a_comma_separated_variable_is_a_list():
    settings = resolve_settings({}, variables(dataset_group_arns=f"{GROUP}, {GROUP}x", role_arn=ROLE))
    assert settings.dataset_group_arns == (GROUP, GROUP + "x")


def test_settings_survive_the_xcom_round_trip():
    settings = resolve_settings({"dataset_group_arns": [GROUP], "role_arn": ROLE}, variables())
    assert ErasureSettings.from_dict(settings.as_dict()) == settings


@pytest.mark.parametrize(
    ("params", "variable_values", "field"),
    [
        ({"role_arn": ROLE}, {}, "dataset_group_arns"),
        ({"dataset_group_arns": [GROUP, "shop"], "role_arn": ROLE}, {}, "dataset_group_arns[1]"),
        ({"dataset_group_arns": [GROUP]}, {}, "role_arn"),
        ({"dataset_group_arns": [GROUP], "role_arn": "PersonalizeDeletion"}, {}, "role_arn"),
        ({"dataset_group_arns": [GROUP], "role_arn": ROLE}, {"bucket": "Not_A_Bucket"}, "bucket"),
        ({"dataset_group_arns": [GROUP], "role_arn": ROLE}, {"overdue_days": 0}, "overdue_days"),
        (
            {"dataset_group_arns": [GROUP], "role_arn": ROLE},
            {"export_kms_key_arn": "alias/x"},
            "export_kms_key_arn",
        ),
    ],
)
def test_bad_settings_name_the_setting(params, variable_values, field):
    with pytest.raises(PersonalizeValidationError) as error:
        resolve_settings(params, variables(**variable_values))
    assert error.value.field == field


def test_a_dry_run_needs_no_role():
    assert resolve_settings({"dataset_group_arns": [GROUP], "dry_run": True}, variables()).dry_run


def test_a_conf_key_outside_the_form_is_refused_naming_the_keys_only():
    check_conf(
        {"dry_run": True, "user_ids": ["u1"], "role_arn": ROLE, "dataset_group_arns": [], "cleanup_files": 0}
    )
    with pytest.raises(PersonalizeValidationError) as error:
        check_conf({"dry_run": True, "bucket": "other-team-data", "stale_file_hours": 25})
    assert error.value.field == "conf"
    assert "bucket, stale_file_hours" in str(error.value)
    assert "other-team-data" not in str(error.value)


def test_where_data_goes_comes_from_variables_and_defaults_only():
    settings = resolve_settings(
        {
            "dataset_group_arns": [GROUP],
            "role_arn": ROLE,
            "bucket": "other-team-data",
            "stale_file_hours": 25,
        },
        variables(key_prefix="from-variable"),
    )
    assert (settings.bucket, settings.key_prefix, settings.stale_file_hours) == (
        "personalize-erasure",
        "from-variable",
        48,
    )


def test_the_dry_run_and_cleanup_variables_apply_when_the_form_leaves_them_untouched():
    untouched = {"dry_run": None, "cleanup_files": None}  # the form's defaults
    resolved = resolve_settings(
        untouched, variables(dataset_group_arns=[GROUP], role_arn=ROLE, dry_run=True, cleanup_files=False)
    )
    assert (resolved.dry_run, resolved.cleanup_files) == (True, False)
    defaults = resolve_settings(untouched, variables(dataset_group_arns=[GROUP], role_arn=ROLE))
    assert (defaults.dry_run, defaults.cleanup_files) == (False, True)
    from_form = resolve_settings(
        {"dry_run": False, "cleanup_files": True},
        variables(dataset_group_arns=[GROUP], role_arn=ROLE, dry_run=True, cleanup_files=False),
    )
    assert (from_form.dry_run, from_form.cleanup_files) == (False, True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dataset_group_arns", 5),
        ("dataset_group_arns", [GROUP, 5]),
        ("key_prefix", 5),
        ("requests_table", 123),
        ("requests_table", "erasure_requests\n"),
        ("audit_table", "x; DROP TABLE y"),
        ("warehouse_conn_id", ["a"]),
        ("overdue_days", 10**9),
        ("overdue_days", 1e9),
        ("overdue_days", True),
        ("stale_file_hours", 24),
        ("dry_run", "yes"),
        ("cleanup_files", "no"),
        ("dry_run", 1),
    ],
)
def test_a_variable_of_the_wrong_type_gets_a_clear_error_naming_it(name, value):
    with pytest.raises(PersonalizeValidationError) as error:
        resolve_settings({}, variables(**{"dataset_group_arns": [GROUP], "role_arn": ROLE, name: value}))
    assert error.value.field == name
    assert repr(value) not in str(error.value)


def test_form_groups_must_be_in_the_allow_list_variable_when_it_is_set():
    other = GROUP.replace("shop", "other")
    allowed = variables(role_arn=ROLE, allowed_dataset_group_arns=[GROUP])
    assert resolve_settings({"dataset_group_arns": [GROUP]}, allowed).dataset_group_arns == (GROUP,)
    with pytest.raises(PersonalizeValidationError) as error:
        resolve_settings({"dataset_group_arns": [GROUP, other]}, allowed)
    assert error.value.field == "dataset_group_arns[1]"
    assert "allowed_dataset_group_arns" in str(error.value)
    assert other not in str(error.value)
    # Not set: any group of the account; groups from the Variable are the admin's, not checked.
    assert resolve_settings({"dataset_group_arns": [other]}, variables(role_arn=ROLE))
    from_variable = variables(role_arn=ROLE, dataset_group_arns=[other], allowed_dataset_group_arns=[GROUP])
    assert resolve_settings({}, from_variable).dataset_group_arns == (other,)
    with pytest.raises(PersonalizeValidationError, match="allowed_dataset_group_arns"):
        resolve_settings(
            {"dataset_group_arns": [GROUP]}, variables(role_arn=ROLE, allowed_dataset_group_arns=5)
        )


DEEPLY_NESTED = '{"a":' + "[" * 200_000 + "]" * 200_000 + "}"


def test_a_selector_nested_deeper_than_json_decodes_is_refused_naming_the_field():
    with pytest.raises(PersonalizeValidationError, match="dataset_group_arns") as error:
        resolve_settings({"dataset_group_arns": [DEEPLY_NESTED]}, variables(role_arn=ROLE))
    assert "[[[" not in str(error.value)


def test_a_variable_nested_deeper_than_json_decodes_is_read_as_text(monkeypatch):
    from airflow_provider_personalize_deletion.erasure import runtime

    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS", DEEPLY_NESTED)
    assert runtime.get_variable("personalize_erasure_dataset_group_arns") == DEEPLY_NESTED
