"""Find and forget: remove erased users from the S3 files Personalize read and wrote (issue 20)."""
