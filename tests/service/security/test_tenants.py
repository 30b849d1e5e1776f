"""Hashed keys, admin scope, and tenant isolation on every endpoint (another tenant's id is 404)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from assistant.cli import main as cli
from assistant.config import get_settings
from assistant.keys import KEY_PREFIX, ApiKey
from tests.support.apps import app_client, app_settings, chat_body, new_key, services_of
from tests.support.media import png_bytes
from tests.support.settings import TEST_KEY

OPERATOR = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = app_settings(tmp_path_factory.mktemp("tenants"))
    with app_client(settings) as c:
        yield c


@pytest.fixture(scope="module")
def acme(client: TestClient) -> dict[str, str]:
    return new_key(client, "acme")


@pytest.fixture(scope="module")
def globex(client: TestClient) -> dict[str, str]:
    return new_key(client, "globex")


@pytest.fixture(scope="module")
def acme_data(client: TestClient, acme: dict[str, str]) -> dict[str, str]:
    """One of everything, owned by tenant acme."""
    doc = client.post(
        "/v1/documents",
        files={"file": ("plan.md", b"# Plan\n\nProject Falcon launches on 3 March.\n")},
        headers=acme,
    )
    assert doc.status_code == 201, doc.text
    file = client.post("/v1/files", files={"file": ("dot.png", png_bytes())}, headers=acme)
    assert file.status_code == 201, file.text
    conv = client.post("/v1/conversations", json={"title": "secret plans"}, headers=acme)
    assert conv.status_code == 201, conv.text
    said = client.post(
        "/v1/chat/completions",
        json=chat_body("When does Falcon launch?", conversation_id=conv.json()["id"]),
        headers=acme,
    )
    assert said.status_code == 200, said.text
    return {
        "document": doc.json()["id"],
        "file": file.json()["id"],
        "conversation": conv.json()["id"],
    }


# --- keys -----------------------------------------------------------------------------------


def test_keys_are_stored_hashed_and_shown_once(client: TestClient) -> None:
    r = client.post("/v1/admin/keys", json={"tenant": "initech", "name": "ci"}, headers=OPERATOR)
    assert r.status_code == 201, r.text
    created = r.json()
    token = created["key"]
    assert token.startswith(KEY_PREFIX) and len(token) > 40
    assert created["tenant"] == "initech" and created["admin"] is False
    services = services_of(client)
    with services.db.session() as s:
        row = s.get(ApiKey, created["id"])
        assert row is not None
        assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps(
            {c.name: str(getattr(row, c.name)) for c in row.__table__.columns}
        )
    listed = client.get("/v1/admin/keys", headers=OPERATOR).json()["data"]
    assert created["id"] in {k["id"] for k in listed}
    assert token not in json.dumps(listed) and all("key" not in k for k in listed)
    # the new key works, for its own tenant only
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/documents", headers=headers).json()["data"] == []


def test_revoked_key_stops_working_at_once(client: TestClient) -> None:
    created = client.post("/v1/admin/keys", json={"tenant": "hooli"}, headers=OPERATOR).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/v1/models", headers=headers).status_code == 200
    r = client.delete(f"/v1/admin/keys/{created['id']}", headers=OPERATOR)
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert client.get("/v1/models", headers=headers).status_code == 401
    assert created["id"] not in {
        k["id"] for k in client.get("/v1/admin/keys", headers=OPERATOR).json()["data"]
    }
    everything = client.get("/v1/admin/keys?include_revoked=true", headers=OPERATOR).json()["data"]
    assert created["id"] in {k["id"] for k in everything}


def test_settings_keys_still_work_as_default_tenant_admins(client: TestClient) -> None:
    assert client.get("/v1/models", headers=OPERATOR).status_code == 200
    assert client.get("/v1/admin/keys", headers=OPERATOR).status_code == 200
    assert (
        client.get("/v1/models", headers={"Authorization": "Bearer sk-ast-forged"}).status_code
        == 401
    )


def test_non_admin_keys_get_403_on_admin_endpoints(
    client: TestClient, acme: dict[str, str]
) -> None:
    assert client.get("/v1/admin/keys", headers=acme).status_code == 403
    r = client.post("/v1/admin/keys", json={"tenant": "acme"}, headers=acme)
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    assert client.delete("/v1/admin/keys/key_0000000000000000", headers=acme).status_code == 403


def test_tenant_admin_manages_only_its_own_tenant(
    client: TestClient, globex: dict[str, str]
) -> None:
    acme_admin = new_key(client, "acme", admin=True)
    r = client.post("/v1/admin/keys", json={"tenant": "globex"}, headers=acme_admin)
    assert r.status_code == 403
    mine = client.post("/v1/admin/keys", json={"name": "bot"}, headers=acme_admin)
    assert mine.status_code == 201 and mine.json()["tenant"] == "acme"
    listed = client.get("/v1/admin/keys?tenant=globex", headers=acme_admin).json()["data"]
    assert listed and {k["tenant"] for k in listed} == {"acme"}
    globex_key = next(
        k for k in client.get("/v1/admin/keys?tenant=globex", headers=OPERATOR).json()["data"]
    )
    assert (
        client.delete(f"/v1/admin/keys/{globex_key['id']}", headers=acme_admin).status_code == 404
    )
    assert client.get("/v1/models", headers=globex).status_code == 200  # still valid


@pytest.mark.parametrize("tenant", ["", "-x", "a/b", "../etc", "x" * 49, "a b", "ü"])
def test_bad_tenant_names_are_refused(client: TestClient, tenant: str) -> None:
    r = client.post("/v1/admin/keys", json={"tenant": tenant}, headers=OPERATOR)
    assert r.status_code == 400, r.text


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = {"ASSISTANT_STORAGE__DATA_DIR": str(tmp_path / "data")}
    get_settings.cache_clear()  # the CLI reads the environment through a cached Settings
    request.addfinalizer(get_settings.cache_clear)
    runner = CliRunner()
    made = runner.invoke(
        cli, ["keys", "create", "--tenant", "acme", "--admin", "--name", "ops"], env=env
    )
    assert made.exit_code == 0, made.output
    lines = dict(line.split(None, 1) for line in made.stdout.splitlines() if line.strip())
    token, key_id = lines["key"], lines["id"]
    assert token.startswith(KEY_PREFIX) and lines["admin"] == "true"
    listed = runner.invoke(cli, ["keys", "list"], env=env)
    assert listed.exit_code == 0 and key_id in listed.stdout and token not in listed.stdout
    settings = app_settings(tmp_path)
    with app_client(settings) as c:
        headers = {"Authorization": f"Bearer {token}"}
        assert c.get("/v1/admin/keys", headers=headers).status_code == 200
        revoked = runner.invoke(cli, ["keys", "revoke", key_id], env=env)
        assert revoked.exit_code == 0, revoked.output
        services_of(c).security.invalidate_keys()  # another process: after the TTL
        assert c.get("/v1/models", headers=headers).status_code == 401
    assert runner.invoke(cli, ["keys", "revoke", "key_nope"], env=env).exit_code != 0
    assert runner.invoke(cli, ["keys", "create", "--tenant", "../x"], env=env).exit_code != 0


# --- isolation --------------------------------------------------------------------------------


def test_documents_of_another_tenant_are_404(
    client: TestClient, acme: dict[str, str], globex: dict[str, str], acme_data: dict[str, str]
) -> None:
    doc = acme_data["document"]
    assert client.get(f"/v1/documents/{doc}", headers=globex).status_code == 404
    assert client.delete(f"/v1/documents/{doc}", headers=globex).status_code == 404
    assert doc not in {d["id"] for d in client.get("/v1/documents", headers=globex).json()["data"]}
    assert client.get(f"/v1/documents/{doc}", headers=acme).status_code == 200  # still there


def test_files_of_another_tenant_are_404(
    client: TestClient, acme: dict[str, str], globex: dict[str, str], acme_data: dict[str, str]
) -> None:
    file_id = acme_data["file"]
    assert client.get(f"/v1/files/{file_id}", headers=globex).status_code == 404
    assert client.delete(f"/v1/files/{file_id}", headers=globex).status_code == 404
    assert file_id not in {f["id"] for f in client.get("/v1/files", headers=globex).json()["data"]}
    # a chat attachment by id cannot reach it either
    part = {"type": "file", "file": {"file_id": file_id}}
    r = client.post(
        "/v1/chat/completions",
        json=chat_body([{"type": "text", "text": "describe"}, part]),
        headers=globex,
    )
    assert r.status_code == 404, r.text
    assert client.get(f"/v1/files/{file_id}", headers=acme).status_code == 200


def test_conversations_of_another_tenant_are_404(
    client: TestClient, acme: dict[str, str], globex: dict[str, str], acme_data: dict[str, str]
) -> None:
    conv = acme_data["conversation"]
    assert client.get(f"/v1/conversations/{conv}", headers=globex).status_code == 404
    r = client.post(
        "/v1/chat/completions", json=chat_body("hi", conversation_id=conv), headers=globex
    )
    assert r.status_code == 404
    r = client.post(
        "/v1/chat/completions",
        json=chat_body("hi", conversation_id=conv, stream=True),
        headers=globex,
    )
    assert r.status_code == 404
    mine = client.get(f"/v1/conversations/{conv}", headers=acme).json()
    assert len(mine["messages"]) == 2  # nothing was appended by the other tenant


@pytest.mark.usefixtures("acme_data")
def test_retrieval_never_crosses_tenants(client: TestClient, globex: dict[str, str]) -> None:
    r = client.post(
        "/v1/chat/completions", json=chat_body("When does Project Falcon launch?"), headers=globex
    )
    assert r.status_code == 200, r.text
    assert r.json()["citations"] == []
    services = services_of(client)
    assert services.store.collection_name("acme") != services.store.collection_name("globex")
    assert services.store.count("globex") == 0 and services.store.count("acme") >= 1


@pytest.mark.usefixtures("acme")
def test_blobs_are_kept_per_tenant(
    client: TestClient, globex: dict[str, str], acme_data: dict[str, str]
) -> None:
    mine = client.post("/v1/files", files={"file": ("same.png", png_bytes())}, headers=globex)
    assert mine.status_code == 201
    services = services_of(client)
    theirs = services.db.get_file("acme", acme_data["file"])
    ours = services.db.get_file("globex", mine.json()["id"])
    assert theirs.sha256 == ours.sha256 and theirs.blob_key != ours.blob_key
    assert ours.blob_key.startswith("globex/") and theirs.blob_key.startswith("acme/")
    # deleting our copy leaves theirs readable
    assert client.delete(f"/v1/files/{mine.json()['id']}", headers=globex).status_code == 200
    from assistant.blobs import BlobRef

    assert services.blobs.exists(BlobRef(theirs.blob_key, theirs.sha256, theirs.bytes))


def test_jobs_of_another_tenant_are_404(
    client: TestClient, acme: dict[str, str], globex: dict[str, str], acme_data: dict[str, str]
) -> None:
    """Extend when the jobs API grows: every /v1/jobs route must answer 404 across tenants."""
    r = client.post(
        "/v1/jobs",
        json={"kind": "ingest", "input": {"file_ids": [acme_data["file"]]}},
        headers=acme,
    )
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    assert client.get(f"/v1/jobs/{job}", headers=globex).status_code == 404
    assert client.get(f"/v1/jobs/{job}/events", headers=globex).status_code == 404
    assert client.delete(f"/v1/jobs/{job}", headers=globex).status_code == 404
    assert job not in {j["id"] for j in client.get("/v1/jobs", headers=globex).json()["data"]}
    # another tenant cannot start a job over acme's file either
    r = client.post(
        "/v1/jobs",
        json={"kind": "ingest", "input": {"file_ids": [acme_data["file"]]}},
        headers=globex,
    )
    assert r.status_code == 404, r.text
    assert client.get(f"/v1/jobs/{job}", headers=acme).status_code == 200


@pytest.mark.parametrize("tenant", ["x\n", "acme\n", "a b", "-x", ""])
def test_a_malformed_tenant_name_is_refused(client: TestClient, tenant: str) -> None:
    r = client.post("/v1/admin/keys", json={"tenant": tenant}, headers=OPERATOR)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "tenant"
