"""An S3 multipart upload fed whole parts: each `write` is sent as one part, with no buffer of its own.

fsspec's S3 file copies every byte into its own buffer and out again before a part leaves; the shard
writer already cuts its stream into chunks (`BackgroundUpload`, 8 MiB), so each chunk goes out as one
part as it is (measured: client CPU per MB down ~40%, see benchmarks/s3_write_path.py). Every chunk but
the last must be at least 5 MiB (S3's minimum part size). `close` completes the upload; `discard`
aborts it, so nothing appears under the key.
"""
from __future__ import annotations

from typing import Any

MAX_PARTS = 10_000  # S3's limit per upload


class S3MultipartUpload:
    """A write-only S3 object `path` ("bucket/key") sent through the s3fs filesystem `fs`, one part per write."""

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.bucket, self.key, _ = fs.split_path(path)
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        """Send `data` as the next part (the multipart upload is created by the first write)."""
        if len(self.parts) >= MAX_PARTS:
            raise ValueError(f"s3://{self.bucket}/{self.key} would need more than {MAX_PARTS} parts: "
                             "make shards smaller (--inputs-per-shard)")
        if self.upload_id is None:
            self.upload_id = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        out = self.fs.call_s3("upload_part", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                              PartNumber=number, Body=data)
        part = {"PartNumber": number, "ETag": out["ETag"]}
        if "ChecksumSHA256" in out:  # as s3fs does: S3 wants it back when the upload was created with it
            part["ChecksumSHA256"] = out["ChecksumSHA256"]
        self.parts.append(part)
        return len(data)

    def close(self) -> None:
        """Complete the upload: the object appears whole (an empty object when nothing was written)."""
        if self.closed:
            return
        if self.upload_id is None:
            self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=b"")
        else:
            self.fs.call_s3("complete_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                            MultipartUpload={"Parts": self.parts})
        self.closed = True
        self.fs.invalidate_cache(f"{self.bucket}/{self.key}")

    def discard(self) -> None:
        """Abort the upload: its parts are dropped and no object appears."""
        if self.upload_id is not None and not self.closed:
            self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        self.closed = True
