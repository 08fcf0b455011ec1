"""
Scanning Personalize CSV sources for suppressed users, and writing filtered copies of them.

A provider piece: the suppression list comes in as HMAC-SHA256 digests (:class:`SuppressedUsers`), the
sources as S3 locations read the way Personalize reads them (:class:`S3Source`); nothing here knows
where the list is stored.
"""
