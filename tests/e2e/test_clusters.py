"""`/clusters` on a real (local-backend) service: register, show, remove; the kubeconfig never
comes back out, and a local service refuses to send an evaluation to a cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_bad_input import assert_nothing_created
from tests.e2e.test_cli import budeval
from tests.service import Service, smoke_request


def kubeconfig(
    token: str, *, current: str | None = "ctx", server: str = "http://127.0.0.1:1"
) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        f"- {{name: c, cluster: {{server: '{server}'}}}}",
        "users:",
        f"- {{name: u, user: {{token: {token}}}}}",
        "contexts:",
        "- {name: ctx, context: {cluster: c, user: u, namespace: ignored}}",
        "- {name: other, context: {cluster: c, user: u}}",
    ]
    if current is not None:
        lines.append(f"current-context: {current}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def clusters(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Service, list[httpx.Response]]]:
    """A service of this module's own (its files are grepped) and every response it gave."""
    service = Service(tmp_path_factory.mktemp("clusters-home")).start()
    responses: list[httpx.Response] = []
    service.http.event_hooks["response"] = [lambda response: responses.append(response)]
    yield service, responses
    service.stop()


def test_register_show_list_and_remove(clusters: tuple[Service, list[httpx.Response]]) -> None:
    service, _ = clusters
    body = {"name": "lab", "kubeconfig": kubeconfig("tok-lab"), "namespace": "evals"}
    created = service.http.post("/clusters", json=body)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown == {
        "name": "lab",
        "server": "http://127.0.0.1:1",
        "namespace": "evals",
        "context": None,
        "created_at": shown["created_at"],
    }
    assert shown["created_at"].endswith("+00:00")
    assert service.http.get("/clusters/lab").json() == shown
    listed = service.http.get("/clusters").json()
    assert [item["name"] for item in listed] == ["default", "lab"]
    assert listed[0] == {
        "name": "default",
        "server": None,
        "namespace": "budeval",
        "context": None,
        "created_at": None,
    }

    again = service.http.post("/clusters", json={**body, "kubeconfig": kubeconfig("tok-2")})
    assert again.status_code == 409
    assert service.http.post("/clusters", json={**body, "name": "default"}).status_code == 409

    assert service.http.delete("/clusters/lab").status_code == 204
    assert service.http.get("/clusters/lab").status_code == 404
    assert service.http.delete("/clusters/lab").status_code == 404
    refused = service.http.delete("/clusters/default")
    assert refused.status_code == 409 and "default" in refused.json()["detail"]
    assert [item["name"] for item in service.http.get("/clusters").json()] == ["default"]


def test_a_named_context_picks_the_server_and_is_shown(
    clusters: tuple[Service, list[httpx.Response]],
) -> None:
    service, _ = clusters
    body = {"name": "ctx-pick", "kubeconfig": kubeconfig("tok-c", current=None), "context": "other"}
    created = service.http.post("/clusters", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["context"] == "other"
    assert created.json()["namespace"] == "budeval"  # the service's default namespace
    assert service.http.delete("/clusters/ctx-pick").status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad", "kubeconfig": "clusters: [\n  {name: MARKER-yaml"}, "kubeconfig"),
        ({"name": "bad", "kubeconfig": "just: MARKER-text\n"}, "kubeconfig"),
        ({"name": "bad", "kubeconfig": kubeconfig("MARKER-noctx", current=None)}, "kubeconfig"),
        ({"name": "bad", "kubeconfig": kubeconfig("MARKER-ctx"), "context": "nope"}, "kubeconfig"),
        ({"name": "bad", "kubeconfig": "a: &x [MARKER-alias]\nb: [*x, *x]"}, "kubeconfig"),
        ({"name": "bad", "kubeconfig": kubeconfig("2024-01-01")}, "kubeconfig"),  # a YAML date
        ({"name": "Bad_Name", "kubeconfig": kubeconfig("MARKER-name")}, "name"),
        ({"name": "x" * 64, "kubeconfig": kubeconfig("MARKER-long")}, "name"),
        ({"name": "bad", "kubeconfig": kubeconfig("MARKER-ns"), "namespace": "Ns"}, "namespace"),
        ({"name": "bad", "kubeconfig": "k" * (256 * 1024 + 1)}, "kubeconfig"),
        ({"name": "bad", "kubeconfig": kubeconfig("MARKER-extra"), "server": "x"}, "server"),
    ],
)
def test_bad_registrations_are_422_and_echo_nothing(
    clusters: tuple[Service, list[httpx.Response]], body: dict[str, str], field: str
) -> None:
    service, _ = clusters
    response = service.http.post("/clusters", json=body)
    assert response.status_code == 422, response.text
    assert [issue["field"] for issue in response.json()["errors"]] == [field]
    assert "MARKER" not in response.text and len(response.content) < 2000
    assert [item["name"] for item in service.http.get("/clusters").json()] == ["default"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"cluster": "lab"}, "cluster"), ({"kubeconfig": kubeconfig("tok-eval")}, "kubeconfig")],
)
def test_a_local_service_refuses_cluster_and_kubeconfig_at_start(
    clusters: tuple[Service, list[httpx.Response]], extra: dict[str, str], field: str
) -> None:
    service, _ = clusters
    registered = {"name": "lab", "kubeconfig": kubeconfig("tok-lab")}
    assert service.http.post("/clusters", json=registered).status_code == 201
    try:
        response = service.start_eval({**smoke_request("kube-start"), **extra})
        assert response.status_code == 422, response.text
        assert [issue["field"] for issue in response.json()["errors"]] == [field]
        assert "backend" in response.json()["detail"]
    finally:
        assert service.http.delete("/clusters/lab").status_code == 204
    assert_nothing_created(service)


def test_the_short_shape_kubeconfig_is_refused_too(
    clusters: tuple[Service, list[httpx.Response]],
) -> None:
    service, _ = clusters
    short = {"eval_request_id": "short-k", "model_name": "m", "api_key": "k"}
    response = service.start_eval(
        {**short, "base_url": "http://h/v1", "kubeconfig": kubeconfig("tok-short")}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "kubeconfig"


def test_cli_add_list_remove(
    clusters: tuple[Service, list[httpx.Response]], tmp_path: Path
) -> None:
    service, _ = clusters
    config = tmp_path / "kubeconfig"
    config.write_text(kubeconfig("tok-cli"))
    added = budeval(
        "clusters",
        "add",
        "cli-c",
        "--kubeconfig",
        str(config),
        "--namespace",
        "ns-a",
        server=service,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert "http://127.0.0.1:1" in added.stdout and "tok-cli" not in added.stdout
    listed = budeval("clusters", "list", server=service)
    assert "cli-c" in listed.stdout and "ns-a" in listed.stdout and "default" in listed.stdout
    twice = budeval("clusters", "add", "cli-c", "--kubeconfig", str(config), server=service)
    assert twice.returncode == 1 and "HTTP 409" in twice.stdout
    assert budeval("clusters", "remove", "cli-c", server=service).returncode == 0
    assert budeval("clusters", "remove", "cli-c", server=service).returncode == 1


def test_no_kubeconfig_token_leaves_the_secret_store(
    clusters: tuple[Service, list[httpx.Response]],
) -> None:
    """Runs last in this module: a fresh registration, every response so far, every file."""
    service, responses = clusters
    token = f"tok-LEAKCHECK-{uuid.uuid4().hex}"
    body = {"name": "leak", "kubeconfig": kubeconfig(token)}
    assert service.http.post("/clusters", json=body).status_code == 201
    service.http.get("/clusters")
    service.http.get("/clusters/leak")
    service.http.post("/clusters", json=body)  # 409
    service.start_eval({**smoke_request("leak-start"), "kubeconfig": kubeconfig(token)})  # 422
    service.http.get("/openapi.json")
    for response in responses:
        assert token not in response.text and "tok-lab" not in response.text, response.url
    kept = [path for path in files(service.home) if token.encode() in path.read_bytes()]
    assert [path.relative_to(service.home).as_posix() for path in kept] == [
        "secrets/cluster-leak.json"
    ]
    assert (service.home / "secrets/cluster-leak.json").stat().st_mode & 0o077 == 0
    assert service.http.delete("/clusters/leak").status_code == 204
    service.stop()  # flush everything the service writes, then grep all of it again
    assert [path for path in files(service.home) if token.encode() in path.read_bytes()] == []
    grepped = {path.name for path in files(service.home)}
    assert "service.log" in grepped and any(name.endswith(".sqlite") for name in grepped), grepped


def files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]
