"""Storage probes (``storage.py``) against real storage: local files and the S3 protocol."""

from __future__ import annotations

from pathlib import Path

from courier.storage import probe, storage_base
from tests.helpers import s3_client


def test_local_storage_probe_leaves_nothing(tmp_path: Path) -> None:
    base = storage_base(tmp_path.as_uri())
    assert probe(base) > 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_s3_storage_probe_round_trips_over_the_protocol(s3_server: str, s3_bucket: str) -> None:
    base = storage_base(f"s3://{s3_bucket}/prefix")
    assert probe(base) > 0
    s3 = s3_client(s3_server)
    assert s3.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


def test_s3_write_is_visible_to_a_plain_s3_client(s3_server: str, s3_bucket: str) -> None:
    target = storage_base(f"s3://{s3_bucket}/prefix") / "dir" / "file.csv"
    target.write_bytes(b"a,b\n1,2\n")
    s3 = s3_client(s3_server)
    assert s3.get_object(Bucket=s3_bucket, Key="prefix/dir/file.csv")["Body"].read() == b"a,b\n1,2\n"
