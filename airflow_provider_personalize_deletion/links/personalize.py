"""Extra link from a task to its data deletion job's dataset group in the AWS console."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class PersonalizeDataDeletionJobLink(BaseAwsLink):
    """
    Link to the dataset group's page of the Amazon Personalize console, where its data deletion jobs are.

    The console has no page of its own for one data deletion job. Its dataset group pages have the
    shape ``https://console.aws.amazon.com/personalize/home?region=REGION#arn:aws:personalize:
    REGION:ACCOUNT:dataset-group$NAME/setup``: the ARN as it is, with ``$`` in place of the ``/``
    before the group's name. The console's domain follows the partition (``BaseAwsLink``).
    """

    name = "Personalize Dataset Group"
    key = "personalize_data_deletion_job"
    format_str = BASE_AWS_CONSOLE_LINK + "/personalize/home?region={region_name}#{dataset_group_arn}/setup"

    def format_link(self, **kwargs: Any) -> str:
        """Write the dataset group's ARN the way the console's URL fragment does."""
        if "dataset_group_arn" in kwargs:
            kwargs["dataset_group_arn"] = kwargs["dataset_group_arn"].replace(
                ":dataset-group/", ":dataset-group$", 1
            )
        return super().format_link(**kwargs)
