"""REST verbs, server-side apply, validation and Status errors, via the real lightkube client."""

from __future__ import annotations

import httpx
import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Namespace, PersistentVolumeClaim, Secret
from lightkube.resources.storage_v1 import StorageClass
from lightkube.types import PatchType

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS, job_manifest
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube


async def names(client: AsyncClient, res, **kwargs) -> list[str]:
    return sorted([o.metadata.name async for o in client.list(res, **kwargs)])


async def test_create_get_and_list_with_label_selectors(client: AsyncClient) -> None:
    for name, labels in [("a", {"tier": "x", "run": "1"}), ("b", {"tier": "y"}), ("c", {})]:
        await client.create(ConfigMap(metadata=ObjectMeta(name=name, labels=labels)))
    got = await client.get(ConfigMap, "a")
    assert got.metadata.labels == {"tier": "x", "run": "1"}
    assert got.metadata.uid and got.metadata.creationTimestamp and got.metadata.resourceVersion

    async def select(selector: str) -> list[str]:
        return await names(client, ConfigMap, namespace=NS, labels=_parse(selector))

    assert await names(client, ConfigMap, namespace=NS) == ["a", "b", "c"]
    assert await select("tier=x") == ["a"]
    assert await select("tier!=x") == ["b", "c"]
    assert await select("tier in (x,y)") == ["a", "b"]
    assert await select("tier notin (x)") == ["b", "c"]
    assert await select("run") == ["a"]
    assert await select("!run") == ["b", "c"]
    assert await names(client, ConfigMap, namespace=NS, fields={"metadata.name": "b"}) == ["b"]


def _parse(selector: str):
    """The lightkube `labels=` form of a selector string (raw strings pass through)."""
    from lightkube import operators

    if " in " in selector or " notin " in selector:
        key, op, values = selector.split(" ", 2)
        items = values.strip("()").split(",")
        return {key: operators.in_(items) if op == "in" else operators.not_in(items)}
    if "!=" in selector:
        key, value = selector.split("!=")
        return {key: operators.not_equal(value)}
    if "=" in selector:
        key, value = selector.split("=")
        return {key: value}
    if selector.startswith("!"):
        return {selector[1:]: operators.not_exists()}
    return {selector: operators.exists()}


async def test_list_pages_with_limit_and_continue(kube: KubeApiServer, client: AsyncClient) -> None:
    for i in range(7):
        await client.create(Secret(metadata=ObjectMeta(name=f"s{i}"), stringData={"k": "v"}))
    kube.reset_counts()
    listed = client.list(Secret, namespace=NS, chunk_size=3)
    assert [s.metadata.name async for s in listed] == [f"s{i}" for i in range(7)]
    assert kube.requests[("list", "secrets")] == 3


async def test_secret_string_data_is_stored_base64(client: AsyncClient) -> None:
    await client.create(Secret(metadata=ObjectMeta(name="key"), stringData={"api_key": "sk-1"}))
    secret = await client.get(Secret, "key")
    assert secret.data == {"api_key": "c2stMQ=="} and not secret.stringData
    assert secret.type == "Opaque"


async def test_apply_creates_updates_and_identical_apply_keeps_rv(client: AsyncClient) -> None:
    def config(data: dict[str, str], labels: dict[str, str]) -> ConfigMap:
        return ConfigMap(metadata=ObjectMeta(name="cfg", namespace=NS, labels=labels), data=data)

    created = await client.apply(config({"a": "1"}, {"x": "1", "y": "2"}), force=True)
    again = await client.apply(config({"a": "1"}, {"x": "1", "y": "2"}), force=True)
    assert again.metadata.resourceVersion == created.metadata.resourceVersion
    updated = await client.apply(config({"a": "2"}, {"x": "1"}), force=True)
    assert int(updated.metadata.resourceVersion) > int(created.metadata.resourceVersion)
    assert updated.data == {"a": "2"}
    assert updated.metadata.labels == {"x": "1"}  # the manager dropped "y"
    managers = [(m.manager, m.operation) for m in updated.metadata.managedFields]
    assert ("budeval", "Apply") in managers


async def test_apply_keeps_fields_of_other_writers(client: AsyncClient) -> None:
    await client.apply(ConfigMap(metadata=ObjectMeta(name="m", namespace=NS), data={"a": "1"}))
    patch = {"metadata": {"labels": {"other": "yes"}}}
    await client.patch(ConfigMap, "m", patch, patch_type=PatchType.MERGE, field_manager="kubectl")
    result = await client.apply(
        ConfigMap(metadata=ObjectMeta(name="m", namespace=NS), data={"a": "2"})
    )
    assert result.metadata.labels == {"other": "yes"} and result.data == {"a": "2"}


async def test_merge_and_strategic_patch(client: AsyncClient) -> None:
    await client.create(ConfigMap(metadata=ObjectMeta(name="p"), data={"a": "1", "b": "2"}))
    merged = await client.patch(
        ConfigMap, "p", {"data": {"a": None, "c": "3"}}, patch_type=PatchType.MERGE
    )
    assert merged.data == {"b": "2", "c": "3"}
    strategic = await client.patch(ConfigMap, "p", {"data": {"b": "9"}})
    assert strategic.data == {"b": "9", "c": "3"}


async def test_error_statuses(client: AsyncClient) -> None:
    async def code(call) -> tuple[int, str]:
        with pytest.raises(ApiError) as caught:
            await call
        return caught.value.status.code, caught.value.status.reason

    assert await code(client.get(Job, "missing")) == (404, "NotFound")
    await client.create(ConfigMap(metadata=ObjectMeta(name="dup")))
    assert await code(client.create(ConfigMap(metadata=ObjectMeta(name="dup")))) == (
        409,
        "AlreadyExists",
    )
    assert await code(client.create(ConfigMap(metadata=ObjectMeta(name="Bad_Name")))) == (
        422,
        "Invalid",
    )
    bad_label = ConfigMap(metadata=ObjectMeta(name="l", labels={"k": "-no-"}))
    assert (await code(client.create(bad_label)))[0] == 422
    long_job = Job.from_dict(job_manifest("j" * 64))
    assert (await code(client.create(long_job)))[0] == 422
    elsewhere = ConfigMap(metadata=ObjectMeta(name="x", namespace="nowhere"))
    assert await code(client.create(elsewhere)) == (404, "NotFound")


async def test_replace_with_stale_resource_version_conflicts(client: AsyncClient) -> None:
    first = await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"v": "1"}))
    second = await client.patch(ConfigMap, "c", {"data": {"v": "2"}}, patch_type=PatchType.MERGE)
    first.data = {"v": "3"}
    with pytest.raises(ApiError) as caught:
        await client.replace(first)
    assert caught.value.status.code == 409 and caught.value.status.reason == "Conflict"
    second.data = {"v": "4"}
    assert (await client.replace(second)).data == {"v": "4"}


async def test_job_template_is_immutable(client: AsyncClient) -> None:
    manifest = job_manifest("imm")
    await client.apply(Job.from_dict(manifest), force=True)
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "other:2"
    with pytest.raises(ApiError) as caught:
        await client.apply(Job.from_dict(manifest), force=True)
    assert caught.value.status.code == 422
    assert "field is immutable" in caught.value.status.message


async def test_apply_without_field_manager_is_invalid(kube: KubeApiServer) -> None:
    body = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}}'
    async with httpx.AsyncClient(base_url=kube.url) as http:
        response = await http.patch(
            f"/api/v1/namespaces/{NS}/configmaps/n",
            content=body,
            headers={"content-type": "application/apply-patch+yaml"},
        )
    assert response.status_code == 422
    assert response.json()["kind"] == "Status" and response.json()["reason"] == "Invalid"


async def test_initial_namespaces_and_storage_classes(client: AsyncClient) -> None:
    assert {"budeval", "default"} <= set(await names(client, Namespace))
    classes = {c.metadata.name: c async for c in client.list(StorageClass)}
    assert set(classes) == {"standard", "local-path"}
    annotations = classes["standard"].metadata.annotations
    assert annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    await client.create(Namespace(metadata=ObjectMeta(name="team-a")))
    assert (await client.get(Namespace, "team-a")).status.phase == "Active"


def _claim(name: str, storage_class: str | None = None) -> PersistentVolumeClaim:
    return PersistentVolumeClaim.from_dict(
        {
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )


async def test_claims_bind_unless_told_not_to(kube: KubeApiServer, client: AsyncClient) -> None:
    created = await client.create(_claim("bound"))
    assert created.status.phase == "Pending" and created.spec.storageClassName == "standard"
    await kube.until(lambda: kube.get("pvc", NS, "bound")["status"]["phase"] == "Bound")
    assert (await client.get(PersistentVolumeClaim, "bound")).spec.volumeName
    kube.unbindable_classes.add("local-path")
    await client.create(_claim("stuck", "local-path"))
    kube.bind_pvcs = False
    await client.create(_claim("later"))
    kube.bind_pvcs = True
    await kube.until(lambda: kube.get("pvc", NS, "later")["status"]["phase"] == "Bound")
    assert kube.get("pvc", NS, "stuck")["status"]["phase"] == "Pending"
    assert kube.volume_dir(NS, "bound").is_dir()
    assert kube.volume_dir(NS, "eval-datasets-pvc") == kube.datasets_dir


async def test_status_subresource_is_separate_from_the_main_resource(
    client: AsyncClient,
) -> None:
    await client.create(Job.from_dict(job_manifest("st", suspend=True)))
    patched = await client.patch(
        Job.Status, "st", {"status": {"ready": 7}}, patch_type=PatchType.MERGE
    )
    assert patched.status.ready == 7
    ignored = await client.patch(Job, "st", {"status": {"ready": 1}}, patch_type=PatchType.MERGE)
    assert ignored.status.ready == 7  # the main resource does not write status
