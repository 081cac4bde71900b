"""deployments/k8s/: every object a valid Kubernetes object (the kubernetes_asyncio client's
models, as prefect-kubernetes uses them) and the objects consistent with each other. No API
server runs here (Debian has no kube-apiserver package): validated, never applied."""

from __future__ import annotations

import json
import re
import types
from urllib.parse import urlparse

import pytest
import yaml

from tests.components import ROOT

pytestmark = pytest.mark.unit
K8S = ROOT / "deployments/k8s"
WORKLOADS = {"Deployment", "StatefulSet"}


def documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


async def test_every_object_round_trips_through_its_kubernetes_model():
    from kubernetes_asyncio.client import ApiClient

    docs = documents()
    assert {d["kind"] for d in docs} == {"Namespace", "Service", "StatefulSet", "Deployment", "ServiceAccount", "Role", "RoleBinding"}
    async with ApiClient() as api:
        for doc in docs:
            model = api.deserialize(types.SimpleNamespace(data=json.dumps(doc)), f"V1{doc['kind']}")
            # deserialize drops keys its model does not know: a lossless round trip means every
            # field is one Kubernetes knows, at its place, with a value of its type.
            assert api.sanitize_for_serialization(model) == doc, f"{doc['kind']} {doc['metadata']['name']}"
        # What the round trip catches: a misplaced field, a value of the wrong type, a missing required field.
        misplaced = by_kind("Deployment")["prefect-server"]
        misplaced["spec"]["template"]["spec"]["env"] = misplaced["spec"]["template"]["spec"]["containers"][0].pop("env")
        assert api.sanitize_for_serialization(api.deserialize(types.SimpleNamespace(data=json.dumps(misplaced)), "V1Deployment")) != misplaced
        wrong_type = by_kind("Deployment")["prefect-server"]
        wrong_type["spec"]["template"]["spec"]["containers"][0]["args"] = "prefect server start"  # a string, not a list
        assert api.sanitize_for_serialization(api.deserialize(types.SimpleNamespace(data=json.dumps(wrong_type)), "V1Deployment")) != wrong_type
        missing = by_kind("Service")["s3"]
        del missing["spec"]["ports"][0]["port"]
        with pytest.raises(ValueError, match="port"):
            api.deserialize(types.SimpleNamespace(data=json.dumps(missing)), "V1Service")  # a required field


def test_objects_live_in_the_namespace_the_manifests_create():
    [namespace] = by_kind("Namespace")
    assert all(d["metadata"].get("namespace") == namespace for d in documents() if d["kind"] != "Namespace")


def test_each_service_selects_one_workload_and_targets_a_named_port_of_it():
    workloads = [d for d in documents() if d["kind"] in WORKLOADS]
    for name, service in by_kind("Service").items():
        selected = [w for w in workloads if service["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, f"service {name} selects {len(selected)} workloads"
        assert selected[0]["spec"]["selector"]["matchLabels"].items() <= selected[0]["spec"]["template"]["metadata"]["labels"].items()
        port_names = {p["name"] for c in containers(selected[0]) for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names, name


def test_secrets_come_from_the_documented_secret_and_variables_expand():
    documented = set(re.findall(r"--from-literal=([a-z0-9-]+)=", (K8S / "namespace.yaml").read_text()))
    assert documented == {"prefect-db-password", "db-password", "s3-secret"}
    used = set()
    for workload in (d for d in documents() if d["kind"] in WORKLOADS):
        for container in containers(workload):
            defined: set[str] = set()
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "lume-credentials"
                    used.add(ref["key"])
                for reference in re.findall(r"\$\(([A-Z_]+)\)", var.get("value", "")):
                    assert reference in defined, f"{var['name']} uses $({reference}) before it is defined"
                defined.add(var["name"])
                assert "password" not in var.get("value", "").lower() or "$(" in var["value"]
    assert used <= documented and used >= {"prefect-db-password", "db-password"}


def test_workers_reach_the_server_service_and_poll_pools_of_the_templates():
    services = by_kind("Service")
    deployments = by_kind("Deployment")
    for worker in ("process-worker", "kubernetes-worker"):
        [container] = containers(deployments[worker])
        env = {v["name"]: v.get("value") for v in container["env"]}
        url = urlparse(env["PREFECT_API_URL"])
        assert url.hostname in services and url.port in {p["port"] for p in services[url.hostname]["spec"]["ports"]}
        args = container["args"]
        pool_type = args[args.index("--type") + 1]
        assert (ROOT / f"deployments/{pool_type}.json").exists()
        assert container["image"] == json.loads((ROOT / "deployments/kubernetes.json").read_text())["variables"]["properties"]["image"]["default"]
    [server] = containers(deployments["prefect-server"])
    assert server["args"][:3] == ["prefect", "server", "start"] and "0.0.0.0" in server["args"]


def test_the_kubernetes_worker_may_create_and_watch_jobs_and_nothing_cluster_wide():
    pod = by_kind("Deployment")["kubernetes-worker"]["spec"]["template"]["spec"]
    binding = by_kind("RoleBinding")["kubernetes-worker"]
    assert {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": "lume"} in binding["subjects"]
    role = by_kind("Role")[binding["roleRef"]["name"]]
    jobs = [r for r in role["rules"] if "jobs" in r["resources"]]
    assert jobs and {"create", "watch", "delete"} <= set(jobs[0]["verbs"]) and jobs[0]["apiGroups"] == ["batch"]
    assert not any(d["kind"] in {"ClusterRole", "ClusterRoleBinding"} for d in documents())
