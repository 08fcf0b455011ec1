"""Transfer operators: user ids from a SQL warehouse to Personalize deletion files in S3."""
