"""deploy/k8s validates: built-in kinds against Kubernetes' own schemas (kubernetes-validate,
strict: an unknown field is an error), and the KEDA and Prometheus operator objects against the
CRD schemas in tests/k8s/crds (made strict the same way). Then what ties the manifests to the
code: ports, probes, the migrator, queue names, and metric names in the alert expressions."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared import metrics
from shared.bus.topology import ServiceQueues
from shared.settings import MANAGEMENT_PORTS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
CRDS = ROOT / "tests/k8s/crds"
KUBERNETES_VERSION = "1.30.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                found.append((name, doc))
    return found


DOCUMENTS = _documents()


def _strict(schema: Any) -> Any:
    """additionalProperties: false wherever an object lists its properties and does not say
    otherwise, as `kubeconform -strict` does: a misspelt field must not pass."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if isinstance(schema.get("pattern"), str):  # Go's regexp allows "^(?i)...", Python's re does not
            schema["pattern"] = re.sub(r"^\^\(\?([a-z]+)\)", r"(?\1)^", schema["pattern"])
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # metadata is checked by the API server's own rules, not the CRD's schema.
            schema.get("properties", {}).pop("metadata", None)
            schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


CRD_SCHEMAS = _crd_schemas()


def test_every_manifest_in_the_folder_is_in_the_kustomization() -> None:
    listed = {name for name, _ in DOCUMENTS}
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert on_disk == listed


@pytest.mark.parametrize(("name", "doc"), DOCUMENTS, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}"
                                                         for n, d in DOCUMENTS])
def test_each_object_validates_against_its_schema(name: str, doc: dict[str, Any]) -> None:
    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        body = {k: v for k, v in doc.items() if k != "metadata"}
        jsonschema.validate(body, CRD_SCHEMAS[key])
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in DOCUMENTS if doc["kind"] == kind]


def test_each_service_is_probed_on_its_management_port() -> None:
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in _by_kind("Deployment")}
    assert set(deployments) == set(MANAGEMENT_PORTS)
    for component, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports["management"] == MANAGEMENT_PORTS[component]
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "management"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "management"}
        assert container["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "management"}
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] > 120  # CIBA_STARTUP_WAIT_SEC


def test_the_migrate_job_is_the_only_migrator() -> None:
    [config] = _by_kind("ConfigMap")
    assert config["data"]["CIBA_MIGRATE_ON_START"] == "false"
    assert config["data"]["CIBA_MANAGEMENT_HOST"] == "0.0.0.0"
    [job] = _by_kind("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:3] == ["ciba-admin", "db", "upgrade"]


def test_every_component_has_a_disruption_budget_and_a_metrics_service() -> None:
    budgets = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
               for d in _by_kind("PodDisruptionBudget")}
    assert budgets == set(MANAGEMENT_PORTS)
    [monitor] = _by_kind("ServiceMonitor")
    selected = monitor["spec"]["selector"]["matchLabels"]
    scraped = {s["metadata"]["labels"]["app.kubernetes.io/component"]: s for s in _by_kind("Service")
               if selected.items() <= s["metadata"]["labels"].items()}
    assert set(scraped) == set(MANAGEMENT_PORTS)
    for component, service in scraped.items():
        assert service["spec"]["ports"] == [{"name": "management", "port": MANAGEMENT_PORTS[component],
                                             "targetPort": "management", "protocol": "TCP"}]


def test_the_workers_scale_on_their_own_work_queue() -> None:
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in _by_kind("ScaledObject")}
    assert set(scaled) == {"ciba-notifier", "ciba-token-delivery"}
    [config] = _by_kind("ConfigMap")
    namespace = config["data"]["CIBA_BUS_NAMESPACE"]
    for name, scaled_object in scaled.items():
        [trigger] = scaled_object["spec"]["triggers"]
        assert trigger["metadata"]["queueName"] == ServiceQueues(namespace, name.removeprefix("ciba-")).main
    [hpa] = _by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ciba-gateway"


def _exported_names() -> set[str]:
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(f"{family.name}{suffix}" for suffix in ("_total", "_count", "_sum", "_bucket"))
    return names


def test_alert_expressions_use_only_metrics_the_services_export() -> None:
    exported = _exported_names()
    [rules] = _by_kind("PrometheusRule")
    used = {name for group in rules["spec"]["groups"] for rule in group["rules"]
            for name in re.findall(r"\bciba_[a-z_]+", rule["expr"])}
    assert used and used <= exported, used - exported


def test_a_misspelt_field_fails_validation_for_built_in_and_custom_kinds() -> None:
    [hpa] = _by_kind("HorizontalPodAutoscaler")
    broken = copy.deepcopy(hpa)
    broken["spec"]["maxReplica"] = broken["spec"].pop("maxReplicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    scaled = copy.deepcopy(_by_kind("ScaledObject")[0])
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in scaled.items() if k != "metadata"},
                            CRD_SCHEMAS[(scaled["apiVersion"], scaled["kind"])])


def test_the_compose_prometheus_alerts_are_the_kubernetes_ones() -> None:
    [rules] = _by_kind("PrometheusRule")
    compose_rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text())
    assert compose_rules == {"groups": rules["spec"]["groups"]}
