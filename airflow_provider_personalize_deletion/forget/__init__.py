"""Find and forget: removing erased users from the S3 files that Personalize read and wrote."""
