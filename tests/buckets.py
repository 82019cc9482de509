"""A real S3 server for the object-storage tests: moto's stand-alone server, on a thread of the test
process (one per xdist worker), with a bucket of its own for each test.

moto answers the S3 protocol over HTTP as AWS does (signed requests, ranged GETs, list pages), so
the desk's own client (obstore) and the Django app's (django-storages on boto3) talk to it exactly
as they would to a real bucket; nothing in the code under test knows it is a test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

LOCATION = "media"
"""The prefix the tests' STORAGE_URL names (django-storages' AWS_LOCATION)."""
AWS_ENV = {"AWS_ACCESS_KEY_ID": "moto-key", "AWS_SECRET_ACCESS_KEY": "moto-secret", "AWS_REGION": "us-east-1"}


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's server on a free local port; its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    """One test's bucket, seen from outside the desk (boto3), to check what the desk stored."""

    endpoint: str
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{LOCATION}"

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=AWS_ENV["AWS_REGION"])

    def create(self) -> None:
        self.client().create_bucket(Bucket=self.name)

    def objects(self) -> dict[str, int]:
        """Every object's key and size."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"]: int(item["Size"]) for page in pages for item in page.get("Contents", [])}

    def get(self, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=self.name, Key=key)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.name, Key=key, Body=data)


def new_bucket(endpoint: str) -> Bucket:
    return Bucket(endpoint, f"desk-{uuid.uuid4().hex[:12]}")
