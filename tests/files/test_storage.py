"""The storage backends keep the same promises: the same tests run against a local folder and an S3 bucket
(moto's S3 server on 127.0.0.1, started here; never the internet)."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.config import get_settings
from backend.db.tenancy import TenancyError, TenantId
from backend.db.uow import tenant_unit_of_work
from backend.errors import NotFound
from backend.files.storage import (
    COPY_BUFFER,
    FileTooLarge,
    LocalStorage,
    S3Storage,
    Storage,
    get_storage,
    s3_client,
    storage_from_url,
)
from backend.invoices import imports
from backend.invoices.models import ImportStatus, Invoice
from tests.conftest import bearer
from tests.factories import make_buyer, owner_of
from tests.invoices.test_imports import confirm, count, csv_bytes, one_line_invoices, run_import_job
from tests.invoices.test_orders_api import PDF, make_delivery, make_order, upload

S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "accord-test",
    "AWS_SECRET_ACCESS_KEY": "accord-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    # Its own process, not a thread here: the memory test below counts what this process holds,
    # and a server thread buffering the object it serves would be counted against the client.
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_environment(s3_endpoint, monkeypatch) -> dict[str, str]:
    environment = {**S3_ENVIRONMENT, "S3_ENDPOINT_URL": s3_endpoint}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return environment


@pytest.fixture
def bucket(s3_environment) -> str:
    name = f"accord-{secrets.token_hex(6)}"
    s3_client(s3_environment).create_bucket(Bucket=name)
    return name


@dataclass
class Store:
    storage: Storage
    left: callable  # every stored name, to show what an operation left behind


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(
            LocalStorage(tmp_path), lambda: sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
        )
    name = request.getfixturevalue("bucket")
    storage = storage_from_url(f"s3://{name}/files", request.getfixturevalue("s3_environment"))
    assert isinstance(storage, S3Storage)

    def left() -> list[str]:
        listed = storage.client.list_objects_v2(Bucket=name)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    return Store(storage, left)


class Endless(io.RawIOBase):
    """A source that never ends, counting what was read from it."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = COPY_BUFFER if size is None or size < 0 else size
        self.served += size
        return b"x" * size


# --- the same behaviour from both backends --------------------------------------------------


def test_a_stored_file_reads_back_under_a_random_key_that_starts_with_the_tenant(store):
    tenant = uuid.uuid4()
    content = secrets.token_bytes(3 * COPY_BUFFER + 17)
    first = store.storage.put(tenant, io.BytesIO(content), suffix=".pdf")
    second = store.storage.put(tenant, io.BytesIO(content), suffix=".pdf")
    assert first.key.startswith(f"{tenant}/") and first.key.endswith(".pdf") and first.key != second.key
    assert (first.size, first.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    with store.storage.open(tenant, first.key) as binary:
        assert binary.readable() and binary.read(10) == content[:10] and binary.read() == content[10:]
    assert len(store.left()) == 2 and all(
        first.key.split("/")[1] not in name or name.endswith(first.key) for name in store.left()
    )


def test_keys_that_climb_out_are_absolute_or_belong_to_another_tenant_are_refused(store):
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    stored = store.storage.put(mine, io.BytesIO(b"data"))
    for tenant, key in (
        (theirs, stored.key),
        (theirs, f"{theirs}/../{stored.key}"),
        (mine, f"{mine}/../{theirs}/x"),
        (mine, f"/{stored.key}"),
        (theirs, f"{theirs}/../{mine}/x"),
        (mine, f"{mine}/sub/../x"),
    ):
        with pytest.raises(TenancyError):
            store.storage.open(tenant, key)
        with pytest.raises(TenancyError):
            store.storage.delete(tenant, key)
    with store.storage.open(mine, stored.key) as binary:
        assert binary.read() == b"data"  # still there: no refused delete reached it


def test_a_file_past_the_limit_is_refused_while_streaming_and_nothing_is_left(store):
    source = Endless()
    with pytest.raises(FileTooLarge) as refused:
        store.storage.put(uuid.uuid4(), source, max_size=2 * COPY_BUFFER + 5)
    assert refused.value.limit == 2 * COPY_BUFFER + 5
    assert source.served <= 3 * COPY_BUFFER  # stopped reading one buffer past the limit
    assert store.left() == []


def test_a_file_exactly_at_the_limit_is_kept(store):
    tenant = uuid.uuid4()
    stored = store.storage.put(tenant, io.BytesIO(b"y" * 1000), max_size=1000)
    assert stored.size == 1000
    with store.storage.open(tenant, stored.key) as binary:
        assert binary.read() == b"y" * 1000


def test_a_large_file_is_read_in_chunks_without_being_held_in_memory(store):
    tenant = uuid.uuid4()
    content = os.urandom(24 * COPY_BUFFER)
    stored = store.storage.put(tenant, io.BytesIO(content))
    tracemalloc.start()
    try:
        digest, binary = hashlib.sha256(), store.storage.open(tenant, stored.key)
        held_after_open = tracemalloc.get_traced_memory()[0]
        with binary:
            while block := binary.read(COPY_BUFFER):
                digest.update(block)
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == stored.sha256
    assert held_after_open < 10 * COPY_BUFFER, held_after_open  # not the 24 MB file


def test_a_deleted_file_is_gone_and_deleting_again_is_harmless(store):
    tenant = uuid.uuid4()
    stored = store.storage.put(tenant, io.BytesIO(b"data"))
    store.storage.delete(tenant, stored.key)
    store.storage.delete(tenant, stored.key)
    with pytest.raises(FileNotFoundError):
        store.storage.open(tenant, stored.key)
    assert store.left() == []


# --- configuration ----------------------------------------------------------------------------


def test_storage_url_names_the_backend(s3_environment, tmp_path):
    local = storage_from_url(f"file://{tmp_path}")
    assert isinstance(local, LocalStorage) and local.root == tmp_path.resolve()
    s3 = storage_from_url("s3://accord-files/tenant-files/", s3_environment)
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("accord-files", "tenant-files")
    assert s3.client.meta.endpoint_url == s3_environment["S3_ENDPOINT_URL"] and s3.client.meta.region_name == "us-east-1"
    assert storage_from_url("s3://accord-files").prefix == ""
    for url in ("s3://", "gs://accord-files", "var/files"):
        with pytest.raises(ValueError):
            storage_from_url(url)


def test_objects_are_kept_under_the_prefix(bucket, s3_environment):
    storage = storage_from_url(f"s3://{bucket}/accord/files", s3_environment)
    tenant = uuid.uuid4()
    stored = storage.put(tenant, io.BytesIO(b"data"))
    listed = storage.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"accord/files/{stored.key}"]


# --- end to end, with STORAGE_URL naming the bucket -----------------------------------------


@pytest.fixture
def storage_in_s3(bucket, s3_environment, monkeypatch) -> Iterator[S3Storage]:
    monkeypatch.setenv("STORAGE_URL", f"s3://{bucket}/e2e")
    get_settings.cache_clear()  # settings are read once per process; read them again with the bucket
    try:
        storage = get_storage()
        assert isinstance(storage, S3Storage) and storage.bucket == bucket
        yield storage
    finally:
        monkeypatch.delenv("STORAGE_URL")
        get_settings.cache_clear()
        assert isinstance(get_storage(), LocalStorage)


def objects_of(storage: S3Storage, tenant_id: uuid.UUID) -> list[str]:
    listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=f"{storage.prefix}/{tenant_id}/")
    return [item["Key"] for item in listed.get("Contents", [])]


async def test_proof_of_delivery_goes_to_the_bucket_and_only_its_tenant_gets_it_back(client, world, storage_in_s3):
    order = await make_order(client, world.a, await make_buyer(world.a))
    delivery = await make_delivery(client, world.a, order_id=order["id"])
    response = await upload(client, world.a, delivery["id"], PDF)
    assert response.status_code == 201, response.text
    kept = response.json()
    [name] = objects_of(storage_in_s3, world.a.tenant_id)
    assert name.startswith(f"e2e/{world.a.tenant_id}/")
    assert not (Path(get_settings().var_dir) / "files" / str(world.a.tenant_id)).exists()

    path = f"/api/v1/deliveries/{delivery['id']}/files/{kept['id']}"
    downloaded = await client.get(path, headers=bearer(world.a.api_key))
    assert downloaded.status_code == 200 and downloaded.content == PDF
    assert downloaded.headers["x-checksum-sha256"] == hashlib.sha256(PDF).hexdigest()
    outsider = await client.get(path, headers=bearer(world.b.api_key))
    assert outsider.status_code == 404 and PDF not in outsider.content


async def test_an_import_reads_its_file_from_the_bucket_from_preview_to_job(world, storage_in_s3):
    await make_buyer(world.a, reference="S3-1")
    rows = one_line_invoices(300, "S3-1", "S3")
    rows[41] = rows[41].replace(",CNY,", ",XYZ,")  # row 43
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        record = await imports.upload_import(session, owner_of(world.a), filename="s3.csv", source=io.BytesIO(csv_bytes(rows)))
        preview = await imports.preview_table(session, owner_of(world.a), record.id, limit=3)
    assert record.total_rows == 300 and [error["row"] for error in record.errors] == [43]
    assert [number for _row, (number, *_rest) in preview.rows] == ["S3-00001", "S3-00002", "S3-00003"]
    assert len(objects_of(storage_in_s3, world.a.tenant_id)) == 1

    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        with pytest.raises(NotFound):
            await imports.preview_table(session, owner_of(world.b), record.id)

    await confirm(world.a, record.id)
    done = await run_import_job(world.a, record.id)
    assert done.status is ImportStatus.DONE and done.created_invoices == 299
    assert await count(world.a, Invoice) == 299 and await count(world.b, Invoice) == 0
