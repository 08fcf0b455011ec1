"""Extra link from a task to its data deletion job's dataset group in the AWS console."""

from __future__ import annotations

from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class PersonalizeDataDeletionJobLink(BaseAwsLink):
    """
    Link to the dataset group page of the Amazon Personalize console, where its data deletion jobs are.

    The console has no page of its own for one data deletion job; the dataset group's page lists them.
    """

    name = "Personalize Dataset Group"
    key = "personalize_data_deletion_job"
    format_str = (
        BASE_AWS_CONSOLE_LINK + "/personalize/home?region={region_name}#{dataset_group_arn}/dashboard"
    )

    def format_link(self, **kwargs) -> str:
        """Escape the ARN: it carries ``:`` and ``/`` into the URL fragment."""
        if "dataset_group_arn" in kwargs:
            kwargs["dataset_group_arn"] = quote(kwargs["dataset_group_arn"], safe="")
        return super().format_link(**kwargs)
