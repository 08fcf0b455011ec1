"""Registration with Airflow's providers manager through the apache_airflow_provider entry point."""

from __future__ import annotations

from airflow.providers_manager import ProvidersManager

PACKAGE = "airflow-provider-personalize-deletion"


def test_the_provider_is_registered_under_its_distribution_name():
    assert PACKAGE in ProvidersManager().providers


def test_its_trigger_and_link_are_registered():
    manager = ProvidersManager()
    assert any(
        "airflow_provider_personalize_deletion.triggers.personalize" in info.trigger_class_name
        or info.package_name == PACKAGE
        for info in manager.trigger
    )
    assert (
        "airflow_provider_personalize_deletion.links.personalize.PersonalizeDataDeletionJobLink"
        in manager.extra_links_class_names
    )
