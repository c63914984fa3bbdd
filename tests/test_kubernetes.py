"""deploy/kubernetes/, checked offline: no cluster, no kubectl, no kustomize.

The kustomization is rendered by reading the files it lists (it uses nothing but `resources` and
`images`, which is checked), each core resource is validated against Kubernetes' own schemas in
strict mode, the ServiceMonitor (a CRD those schemas lack) by hand, and the manifests are held
against the code: the settings the worker reads, its web endpoints, the files its *_FILE settings
name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import trustme
import yaml

from streams.core.control_auth import NO_KEYS
from streams.settings import PREFIX, SettingsError, load_settings, parse_duration

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
# The oldest release the manifests are written for; the schemas ship inside kubernetes-validate.
KUBERNETES_VERSION = "1.30.0"
POD_IP = "10.1.2.3"  # stands in for status.podIP


@cache
def kustomization() -> dict:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


@cache
def rendered() -> tuple[dict, ...]:
    """What `kubectl kustomize` would print for this kustomization, which only lists files and sets the image."""
    images = {image["name"]: image for image in kustomization().get("images", [])}
    resources = []
    for name in kustomization()["resources"]:
        for document in yaml.safe_load_all((DEPLOY / name).read_text()):
            if document is None:
                continue
            for container in _pod_spec(document).get("containers", []) if document["kind"] == "StatefulSet" else []:
                image = images.get(container["image"])
                if image is not None:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
            resources.append(document)
    return tuple(resources)


def one(kind: str, name: str | None = None) -> dict:
    found = [r for r in rendered() if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _pod_spec(statefulset: dict) -> dict:
    return statefulset["spec"]["template"]["spec"]


def worker() -> dict:
    (container,) = _pod_spec(one("StatefulSet"))["containers"]
    return container


def configmap_env() -> dict[str, str]:
    (source,) = worker()["envFrom"]
    return dict(one("ConfigMap", source["configMapRef"]["name"])["data"])


def container_env() -> dict[str, dict]:
    return {item["name"]: item for item in worker()["env"]}


def environment(files_root: Path | None = None) -> dict[str, str]:
    """The worker's LAPSEWATCH_* environment as the kubelet builds it; paths under files_root when given."""
    env = configmap_env()
    for name, item in container_env().items():
        if "value" in item:
            env[name] = item["value"]
        else:
            assert item["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}, name
            env[name] = POD_IP
    if files_root is not None:
        for mount in worker()["volumeMounts"]:
            for name, value in env.items():
                if value == mount["mountPath"] or value.startswith(mount["mountPath"] + "/"):
                    env[name] = str(files_root) + value
    return env


def secret_mounts() -> dict[str, dict]:
    """Mount path → the Secret mounted there (every key as a file: no `items` in this kustomization)."""
    volumes = {volume["name"]: volume for volume in _pod_spec(one("StatefulSet"))["volumes"]}
    mounts = {}
    for mount in worker()["volumeMounts"]:
        secret = volumes.get(mount["name"], {}).get("secret")
        if secret is not None:
            assert "items" not in secret and "subPath" not in mount, mount["name"]
            mounts[mount["mountPath"]] = one("Secret", secret["secretName"])
    return mounts


def project_secrets(root: Path, replace: dict[str, str] | None = None) -> None:
    """Writes every mounted Secret's keys as files under root, as the kubelet would; `replace` by file name."""
    for mount_path, secret in secret_mounts().items():
        directory = root / mount_path.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        for key, value in secret["stringData"].items():
            (directory / key).write_text((replace or {}).get(key, value))


class AskedFor(dict):
    """An environment that remembers every variable load_settings looks up, set or not."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)


def web_pages() -> set[str]:
    """The paths of the worker's @app.page views, read from the source: importing it would start an app."""
    tree = ast.parse((ROOT / "streams" / "ops" / "views.py").read_text())
    pages = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "app.page":
                    pages.add(decorator.args[0].value)
    return pages


def yaml_files() -> Iterator[Path]:
    return (path for path in DEPLOY.iterdir() if path.suffix in (".yaml", ".yml"))


@pytest.fixture
def valid_secrets(tmp_path) -> Path:
    """The mounted Secrets with real-looking values in place of the placeholders."""
    ca = trustme.CA()
    project_secrets(
        tmp_path,
        {
            "api-key": "fastly-token-for-tests",
            "sasl-password": "kafka password",
            "ca.pem": ca.cert_pem.bytes().decode(),
            "keys": "0123456789abcdef0123456789abcdef0123456789abcdef\n",
        },
    )
    return tmp_path


# Rendering and schemas


def test_the_kustomization_lists_every_manifest_and_nothing_else():
    listed = kustomization()["resources"]
    assert sorted(listed) == sorted(path.name for path in yaml_files() if path.name != "kustomization.yaml")
    assert len(set(listed)) == len(listed)
    # Anything else (patches, generators, labels) would make rendered() differ from kustomize's output.
    assert set(kustomization()) <= {"apiVersion", "kind", "resources", "images"}
    assert kustomization()["kind"] == "Kustomization"


def test_every_core_resource_is_valid_for_kubernetes_strictly():
    core = [r for r in rendered() if r["apiVersion"] != "monitoring.coreos.com/v1"]
    assert {r["kind"] for r in core} == {"ConfigMap", "Secret", "StatefulSet", "Service", "PodDisruptionBudget"}
    for resource in core:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{resource['kind']} {resource['metadata']['name']}: {exc.message} at {list(exc.path)}")
    names = [(r["kind"], r["metadata"]["name"]) for r in rendered()]
    assert len(names) == len(set(names))


def test_the_strict_validation_catches_an_unknown_field():
    service = yaml.safe_load(yaml.safe_dump(one("Service", "lapsewatch")))
    service["spec"]["publishNotReadyAdresses"] = True  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_the_service_monitor_scrapes_the_metrics_service_only():
    monitor = one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert set(monitor["spec"]["selector"]) == {"matchLabels"}
    selected = [s for s in rendered() if s["kind"] == "Service" and wanted.items() <= s["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in selected] == ["lapsewatch-metrics"]  # twice would scrape twice
    port_names = {port["name"] for port in selected[0]["spec"]["ports"]}
    assert monitor["spec"]["endpoints"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels"}
        assert endpoint["port"] in port_names
        assert endpoint["path"] in web_pages()
        assert endpoint["path"] == "/metrics"
        # Prometheus refuses a scrape timeout longer than the interval.
        interval, timeout = (endpoint.get(key, "30s") for key in ("interval", "scrapeTimeout"))
        assert re.fullmatch(r"\d+(ms|s|m|h)", interval) and re.fullmatch(r"\d+(ms|s|m|h)", timeout)
        assert parse_duration(timeout) <= parse_duration(interval)


# Against the code


def test_every_variable_is_a_setting_the_worker_reads(valid_secrets):
    """The environment the pods get is read by load_settings name by name, and accepted whole."""
    env = AskedFor(environment(valid_secrets))
    variables = set(env)
    assert all(name.startswith(PREFIX) for name in variables), variables
    settings = load_settings(env)
    assert variables - env.asked == set(), "set in the manifests but no setting of streams/settings.py"
    # A variable in both places would be decided by env silently.
    assert not set(configmap_env()) & set(container_env())
    assert settings.broker_security.protocol == "SASL_SSL"
    assert settings.fastly_api_key == "fastly-token-for-tests"
    assert settings.web_host == POD_IP and settings.web_bind == "0.0.0.0"
    assert settings.control_keys != NO_KEYS, "control commands would be taken unsigned"


def test_the_placeholder_secrets_stop_the_worker_naming_the_variable(tmp_path):
    project_secrets(tmp_path)
    with pytest.raises(SettingsError, match="LAPSEWATCH_FASTLY_API_KEY"):
        load_settings(environment(tmp_path))
    project_secrets(tmp_path, {"api-key": "fastly-token-for-tests"})
    with pytest.raises(SettingsError, match="LAPSEWATCH_BROKER_SASL_PASSWORD"):
        load_settings(environment(tmp_path))
    project_secrets(tmp_path, {"api-key": "fastly-token-for-tests", "sasl-password": "kafka password"})
    with pytest.raises(SettingsError, match="LAPSEWATCH_BROKER_CA_FILE"):
        load_settings(environment(tmp_path))
    ca = trustme.CA().cert_pem.bytes().decode()
    project_secrets(tmp_path, {"api-key": "fastly-token-for-tests", "sasl-password": "kafka password", "ca.pem": ca})
    with pytest.raises(SettingsError, match="LAPSEWATCH_CONTROL_KEY_FILE"):
        load_settings(environment(tmp_path))


def test_secrets_are_files_where_the_file_settings_point():
    env = environment()
    mounts = secret_mounts()
    used = set()
    for name, path in env.items():
        if not name.endswith("_FILE") or name == PREFIX + "PUBLIC_DOMAINS_FILE":
            continue
        directory, _, key = path.rpartition("/")
        assert directory in mounts, f"{name}={path}: no Secret is mounted at {directory}"
        assert key in mounts[directory]["stringData"], f"{name}={path}: no key {key}"
        used.add((directory, key))
    assert used == {(d, key) for d, secret in mounts.items() for key in secret["stringData"]}, "a key no setting reads"
    for mount in worker()["volumeMounts"]:
        assert mount.get("readOnly") or mount["mountPath"] not in mounts
    # Never as environment values: not from a Secret, not through envFrom.
    assert all("secretRef" not in source for source in worker()["envFrom"])
    assert all("secretKeyRef" not in item.get("valueFrom", {}) for item in worker()["env"])
    for secret in mounts.values():
        assert set(secret) <= {"apiVersion", "kind", "metadata", "type", "stringData"}


def test_the_data_directory_is_the_claimed_volume_and_the_only_writable_place_besides_tmp():
    statefulset = one("StatefulSet")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {mount["mountPath"]: mount["name"] for mount in worker()["volumeMounts"]}
    assert mounts[environment()[PREFIX + "DATA_DIR"]] == claim["metadata"]["name"]
    assert worker()["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in _pod_spec(statefulset)["volumes"]}
    writable = {path for path, name in mounts.items() if name not in volumes or "emptyDir" in volumes[name]}
    assert writable == {environment()[PREFIX + "DATA_DIR"], "/tmp"}


def test_probes_and_ports_match_the_web_server():
    env = environment()
    (port,) = worker()["ports"]
    assert port["containerPort"] == int(env[PREFIX + "WEB_PORT"])
    assert env[PREFIX + "WEB_BIND"] == "0.0.0.0"  # the default, loopback, is out of the kubelet's reach
    assert worker()["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert worker()["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert worker()["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert {"/healthz", "/readyz", "/metrics"} <= web_pages()
    for service in (s for s in rendered() if s["kind"] == "Service"):
        assert service["spec"]["selector"] == one("StatefulSet")["spec"]["selector"]["matchLabels"]
        assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]
    assert one("StatefulSet")["spec"]["serviceName"] == one("Service", "lapsewatch")["metadata"]["name"]
    assert one("Service", "lapsewatch")["spec"]["clusterIP"] == "None"


def test_timings_follow_the_group_settings(valid_secrets):
    """Liveness no quicker than the broker's session timeout; the grace period covers a stop in a rebalance."""
    settings = load_settings(environment(valid_secrets))
    liveness = worker()["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= settings.session_timeout
    grace = _pod_spec(one("StatefulSet"))["terminationGracePeriodSeconds"]
    assert grace >= settings.rebalance_timeout + 30


def test_one_worker_at_a_time_and_replicas_that_can_all_work():
    budget = one("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == one("StatefulSet")["spec"]["selector"]
    replicas = one("StatefulSet")["spec"]["replicas"]
    assert 2 <= replicas <= int(configmap_env()[PREFIX + "PARTITIONS"])


def test_the_pod_runs_as_the_images_user_without_privileges():
    pod = _pod_spec(one("StatefulSet"))["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    container = worker()["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert worker()["image"] == "lapsewatch:0.1.0"


def quantity(text: str) -> float:
    """A Kubernetes quantity such as 500m, 2 or 512Mi (the schemas take any string)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi|Ti)?", str(text))
    assert match, f"not a quantity: {text!r}"
    scale = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(match.group(1)) * scale[match.group(2)]


def test_resources_leave_room_above_the_measured_peak():
    requests, limits = worker()["resources"]["requests"], worker()["resources"]["limits"]
    assert set(requests) == {"cpu", "memory"} and "memory" in limits
    for kind in requests:
        assert quantity(requests[kind]) <= quantity(limits.get(kind, requests[kind])), kind
    # README, "Sizing": about 400 MB resident after a full restore, with peaks up to 530 MB.
    assert quantity(limits["memory"]) >= 2 * 530e6
    (claim,) = one("StatefulSet")["spec"]["volumeClaimTemplates"]
    assert quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 1 * 2**30
