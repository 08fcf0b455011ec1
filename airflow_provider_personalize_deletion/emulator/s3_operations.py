"""
The S3 API name of a request moto answers, from its method, path and query (path-style addressing).

Only the names the faults need (:meth:`.faults.RequestFaults.set_latency` of one S3 operation): a
request this does not recognise is named by its method (``S3:GET``...), which no fault names.
"""

from __future__ import annotations

from collections.abc import Container, Mapping


def s3_operation(method: str, path: str, query: Mapping[str, str], headers: Container[str]) -> str:
    """
    :param method: the HTTP method.
    :param path: the URL path (``/bucket`` or ``/bucket/key``).
    :param query: the query parameters (only their names matter, but for ``list-type``).
    :param headers: the request headers' names (``x-amz-copy-source`` tells a copy from a put).
    :return: the S3 API name, e.g. ``PutObject``, ``DeleteObjects``, ``UploadPart``.
    """
    has_key = "/" in path.strip("/")
    if method == "POST":
        for name, operation in (("delete", "DeleteObjects"), ("uploads", "CreateMultipartUpload")):
            if name in query:
                return operation
        if "uploadId" in query:
            return "CompleteMultipartUpload"
    elif method == "PUT" and has_key:
        if "uploadId" in query:
            return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    elif method == "DELETE" and has_key:
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    elif method == "GET":
        if has_key:
            return "ListParts" if "uploadId" in query else "GetObject"
        if "uploads" in query:
            return "ListMultipartUploads"
        if query.get("list-type") == "2":
            return "ListObjectsV2"
    elif method == "HEAD" and has_key:
        return "HeadObject"
    return f"S3:{method}"
