"""Multipart uploads completed by streaming (moto's own way holds 4.4x the object in memory):
the object reads back bit for bit, with S3's ETag, and moto's checks still refuse bad parts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError

from layoutbench.store._moto_multipart import MULTIPART_OK_MARKER

MiB = 2**20


def test_the_patch_is_applied(s3) -> None:
    assert MULTIPART_OK_MARKER in s3._moto.log_tail(200)


def test_a_multipart_upload_reads_back_bit_for_bit(s3, tmp_path: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    data = np.random.default_rng(1).integers(0, 255, 13 * MiB + 123, dtype=np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=2)
    s3.client.upload_file(str(path), s3.bucket, "big.bin", Config=config)
    got = s3.client.get_object(Bucket=s3.bucket, Key="big.bin")
    assert got["Body"].read() == data
    # S3's multipart ETag: md5 of the parts' md5s, dash, the number of parts (3 of 5 MiB)
    md5s = b"".join(hashlib.md5(data[i:i + 5 * MiB]).digest() for i in range(0, len(data),
                                                                              5 * MiB))
    assert got["ETag"].strip('"') == f"{hashlib.md5(md5s).hexdigest()}-3"
    assert s3.object_info("big.bin").size == len(data)
    # a range within the second part (the range patch reads the streamed buffer)
    part = s3.client.get_object(Bucket=s3.bucket, Key="big.bin", Range="bytes=6000000-6000099")
    assert part["Body"].read() == data[6000000:6000100]


def test_bad_parts_are_still_refused(s3) -> None:
    up = s3.client.create_multipart_upload(Bucket=s3.bucket, Key="x")
    small = s3.client.upload_part(Bucket=s3.bucket, Key="x", UploadId=up["UploadId"],
                                  PartNumber=1, Body=b"a" * 10)
    last = s3.client.upload_part(Bucket=s3.bucket, Key="x", UploadId=up["UploadId"],
                                 PartNumber=2, Body=b"b" * 10)
    parts = [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
    cases = [
        (parts, "EntityTooSmall"),  # a part before the last under 5 MiB
        ([{"PartNumber": 1, "ETag": '"0000"'}], "InvalidPart"),  # an ETag that is not the part's
    ]
    for given, code in cases:
        with pytest.raises(ClientError, match=code):
            s3.client.complete_multipart_upload(Bucket=s3.bucket, Key="x",
                                                UploadId=up["UploadId"],
                                                MultipartUpload={"Parts": given})
