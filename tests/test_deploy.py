"""deploy/ and the Containerfile, checked without a cluster or a registry.

Every Kubernetes manifest is rendered the way ``kubectl apply -k`` would (a small kustomize:
resources, components, strategic-merge patches, images) and validated against the Kubernetes
JSON schemas of kubernetes-validate (strict: unknown keys fail), the Route against its own
schema; the compose files against the compose-spec schema; the Containerfile with hadolint.
Then the parts are checked against each other and against the bot: names that must resolve,
probes on /healthz at the dashboard port, and the ConfigMap's settings loaded by the bot itself.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from bot.config import DashboardSettings, Settings, load_settings
from bot.queries import load_queries
from bot.watch.routing import load_channels
from tests.support.paths import ROOT, require_program

DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
SCHEMAS = ROOT / "tests" / "data" / "schemas"
#: Oldest Kubernetes the manifests claim (OpenShift 4.14), and the newest schemas at hand.
KUBE_VERSIONS = ("1.27.0", "latest")
VARIANTS = {
    "base": ("base", ()),
    "git-sync": ("overlays/git-sync", ()),
    "configmap-queries": ("overlays/configmap-queries", ()),
    "git-sync+openshift": ("overlays/git-sync", ("components/openshift",)),
    "configmap-queries+openshift": ("overlays/configmap-queries", ("components/openshift",)),
    "self-sync": ("overlays/self-sync", ()),
    "self-sync+openshift": ("overlays/self-sync", ("components/openshift",)),
}


def require_module(name: str) -> ModuleType:
    """A validator package from the dev extras; skip without it, fail under CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed, and CI must validate the manifests")
        pytest.skip(f"{name} is not installed")


# --- a small kustomize --------------------------------------------------------------------------

#: Strategic-merge keys of the lists our patches touch (Kubernetes' patchMergeKey values).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


def merge(base: Any, patch: Any, key: str = "") -> Any:
    """Strategic merge patch: maps merge, null deletes, keyed lists merge by their key."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for name, value in patch.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = merge(base.get(name), value, name) if name in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        by = MERGE_KEYS[key]
        out_list = list(base)
        for item in patch:
            index = next((i for i, b in enumerate(out_list) if b.get(by) == item.get(by)), None)
            if index is None:
                out_list.append(item)
            else:
                out_list[index] = merge(out_list[index], item)
        return out_list
    return patch


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def render(directory: Path, components: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """What ``kubectl kustomize`` prints for ``directory``, plus extra components."""
    [kust] = load_docs(directory / "kustomization.yaml")
    docs = resources(directory)
    # A component adds its objects, then patches everything gathered so far.
    for component in [*(directory / c for c in kust.get("components", [])), *components]:
        docs = apply_patches(component, docs + resources(component))
    docs = apply_patches(directory, docs)
    return [set_images(doc, kust.get("images", [])) for doc in docs]


def resources(directory: Path) -> list[dict[str, Any]]:
    [kust] = load_docs(directory / "kustomization.yaml")
    docs: list[dict[str, Any]] = []
    for entry in kust.get("resources", []):
        path = directory / entry
        docs += render(path) if path.is_dir() else load_docs(path)
    return docs


def apply_patches(directory: Path, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [kust] = load_docs(directory / "kustomization.yaml")
    for entry in kust.get("patches", []):
        [patch] = load_docs(directory / entry["path"])
        targets = [i for i, d in enumerate(docs) if same_object(d, patch)]
        assert len(targets) == 1, f"{entry['path']} patches {len(targets)} objects"
        docs[targets[0]] = merge(docs[targets[0]], patch)
    return docs


def same_object(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["kind"] == b["kind"] and a["metadata"]["name"] == b["metadata"]["name"])


def set_images(doc: dict[str, Any], images: list[dict[str, str]]) -> dict[str, Any]:
    for container in pod_spec(doc).get("containers", []) if doc["kind"] == "Deployment" else []:
        name = container["image"].split(":")[0]
        for image in images:
            if image["name"] == name:
                tag = image.get("newTag", container["image"].partition(":")[2])
                container["image"] = f"{image.get('newName', name)}:{tag}"
    return doc


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


@pytest.fixture(params=list(VARIANTS))
def rendered(request: pytest.FixtureRequest) -> dict[tuple[str, str], dict[str, Any]]:
    directory, components = VARIANTS[request.param]
    docs = render(KUBE / directory, tuple(KUBE / c for c in components))
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(objects) == len(docs), "two objects with one kind and name"
    return objects


# --- schemas ------------------------------------------------------------------------------------


def kustomizations() -> Iterator[Path]:
    yield from sorted(KUBE.rglob("kustomization.yaml"))


def test_every_manifest_file_is_used_by_a_kustomization() -> None:
    used: set[Path] = set()
    for path in kustomizations():
        [kust] = load_docs(path)
        assert set(kust) <= {"apiVersion", "kind", "resources", "components", "patches", "images"}
        assert kust["kind"] in ("Kustomization", "Component")
        entries = kust.get("resources", []) + [p["path"] for p in kust.get("patches", [])]
        for entry in entries + kust.get("components", []):
            assert (path.parent / entry).exists(), f"{path}: {entry} is missing"
        used |= {(path.parent / e).resolve() for e in entries}
    files = {p.resolve() for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert files - used == set()


def test_rendered_objects_match_their_schemas(
    rendered: dict[tuple[str, str], dict[str, Any]],
) -> None:
    validator = require_module("kubernetes_validate")
    jsonschema = require_module("jsonschema")
    route_schema = json.loads((SCHEMAS / "route.openshift.io-v1.json").read_text())
    for (kind, _), doc in rendered.items():
        if kind == "Route":
            jsonschema.validate(doc, route_schema)
            continue
        for version in KUBE_VERSIONS:
            if version == "latest":
                version = validator.latest_version()
            validator.validate(doc, version, strict=True)


def test_a_wrong_manifest_is_caught() -> None:
    validator = require_module("kubernetes_validate")
    deployment = render(KUBE / "base")[3]
    assert deployment["kind"] == "Deployment"
    broken = merge(deployment, {"spec": {"replica": 1}})
    with pytest.raises(validator.ValidationError):
        validator.validate(broken, validator.latest_version(), strict=True)


def compose_schema() -> dict[str, Any]:
    module = require_module("check_jsonschema")
    path = Path(str(module.__file__)).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def test_compose_files_match_the_compose_spec() -> None:
    jsonschema = require_module("jsonschema")
    schema = compose_schema()
    main = load_docs(DEPLOY / "compose.yaml")[0]
    irc = load_docs(DEPLOY / "compose.irc.yaml")[0]
    for doc in (main, irc, merge(main, irc)):
        jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(merge(main, {"services": {"recheckbot": {"restrat": "no"}}}), schema)


# --- the parts against each other and against the bot -------------------------------------------


def bot_container(deployment: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = pod_spec(deployment)["containers"]
    [container] = [c for c in found if c["name"] == "recheckbot"]
    return container


def test_one_replica_recreated_locked_down(
    rendered: dict[tuple[str, str], dict[str, Any]],
) -> None:
    deployment = rendered["Deployment", "recheckbot"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = pod_spec(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"requests", "limits"} <= set(container["resources"]), container["name"]
        assert ":" in container["image"], f"{container['name']}: image without a tag"


def test_references_resolve(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    pod = pod_spec(rendered["Deployment", "recheckbot"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    for volume in volumes.values():
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in rendered
        if "secret" in volume:
            assert ("Secret", volume["secret"]["secretName"]) in rendered
        if "persistentVolumeClaim" in volume:
            assert (
                "PersistentVolumeClaim",
                volume["persistentVolumeClaim"]["claimName"],
            ) in rendered
    mounted = {m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
    assert mounted == set(volumes), "every volume mounted, every mount a volume"
    for container in pod["containers"]:
        for env in container.get("env", []):
            if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                secret = rendered["Secret", ref["name"]]
                assert ref["key"] in secret.get("stringData", secret.get("data", {}))


def test_probes_and_service_reach_the_dashboard(
    rendered: dict[tuple[str, str], dict[str, Any]],
) -> None:
    deployment = rendered["Deployment", "recheckbot"]
    container = bot_container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": DashboardSettings().port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert ports[get["port"]] == 8080
    service = rendered["Service", "recheckbot"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    if ("Route", "recheckbot") in rendered:
        route = rendered["Route", "recheckbot"]["spec"]
        assert ("Service", route["to"]["name"]) in rendered
        assert route["port"]["targetPort"] in {p["name"] for p in service["spec"]["ports"]}
        assert "fsGroup" not in pod_spec(deployment)["securityContext"]


def materialize(
    rendered: dict[tuple[str, str], dict[str, Any]], root: Path
) -> tuple[dict[str, str], list[tuple[str, bool]]]:
    """Write the bot container's ConfigMap and Secret mounts under ``root``; return its
    environment (secret references resolved) and its mounts (path, writable)."""
    pod = pod_spec(rendered["Deployment", "recheckbot"])
    container = bot_container(rendered["Deployment", "recheckbot"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = []
    for mount in container["volumeMounts"]:
        volume, target = volumes[mount["name"]], root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        source = volume.get("configMap", {}).get("name") or volume.get("secret", {}).get(
            "secretName"
        )
        for kind in ("ConfigMap", "Secret"):
            if source and (kind, source) in rendered:
                obj = rendered[kind, source]
                for key, value in {**obj.get("data", {}), **obj.get("stringData", {})}.items():
                    (target / key).write_text(value)
        mounts.append((mount["mountPath"], not mount.get("readOnly", False)))
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = rendered["Secret", ref["name"]]["stringData"][ref["key"]]
    return env, mounts


def rooted(text: str, root: Path, prefixes: list[str]) -> str:
    """``text`` with the container's absolute paths under ``prefixes`` moved below ``root``
    (one pass, longest prefix first, so a moved path is never moved again)."""
    choices = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    return re.sub(rf"(?<![\w/])(?:{choices})(?=/|\s|$)", lambda m: f"{root}{m[0]}", text)


def test_the_bot_loads_the_settings_it_is_given(
    rendered: dict[tuple[str, str], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, mounts = materialize(rendered, tmp_path)
    args = bot_container(rendered["Deployment", "recheckbot"])["args"]
    assert args[:2] == ["run", "--config"]
    assert env.get("RECHECKBOT_CONFIG", args[2]) == args[2]  # what `kubectl exec` subcommands read
    prefixes = [path for path, _ in mounts] + ["/etc/recheckbot", "/git"]
    config = tmp_path / args[2].lstrip("/")
    config.write_text(rooted(config.read_text(), tmp_path, prefixes))
    for name, value in env.items():
        monkeypatch.setenv(name, rooted(value, tmp_path, prefixes))
    settings = load_settings(config)  # secrets are read from the Secret's files here
    assert settings.search.password is not None
    assert settings.dashboard.host == "0.0.0.0"
    assert settings.dashboard.port == 8080
    assert settings.irc is not None
    assert settings.irc.password is not None
    assert len(load_channels(settings.channels).channels) >= 1
    writable = [tmp_path / path.lstrip("/") for path, rw in mounts if rw]
    cache = [settings.query_cache] if settings.query_sources else []
    for path in (settings.state, settings.dashboard.output, *cache):
        assert any(path.is_relative_to(w) for w in writable), f"{path} is read-only"
    check_queries(rendered, settings, tmp_path)


def check_queries(
    rendered: dict[tuple[str, str], dict[str, Any]], settings: Settings, root: Path
) -> None:
    """The queries the bot is pointed at: in the image, in git, or in the ConfigMap."""
    if settings.query_sources:  # synced by the bot itself: git sources only, and git in the image
        assert all(source.git for source in settings.query_sources)
        assert re.search(r"apt-get install .*\bgit\b", (ROOT / "Containerfile").read_text())
        return
    queries = Path("/") / settings.queries.relative_to(root)
    if queries == Path("/etc/recheckbot/queries"):  # the image's: COPY queries …
        assert "COPY queries /etc/recheckbot/queries" in (ROOT / "Containerfile").read_text()
    elif queries.is_relative_to("/git"):  # git-sync's checkout: only the mount can be checked
        containers = pod_spec(rendered["Deployment", "recheckbot"])["containers"]
        [sidecar] = [c for c in containers if c["name"] == "git-sync"]
        env = {e["name"]: e["value"] for e in sidecar["env"]}
        assert queries.is_relative_to(Path(env["GITSYNC_ROOT"]) / env["GITSYNC_LINK"])
    else:
        repo = load_queries(settings.queries)
        assert repo.queries
        assert not repo.problems


def test_the_default_image_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    settings = load_settings(DEPLOY / "container" / "config.yaml")
    assert settings.dashboard.host == "0.0.0.0"
    assert settings.state.parent == Path("/var/lib/recheckbot")  # the image's VOLUME
    compose = load_settings(DEPLOY / "compose" / "config.yaml")
    assert compose.state.parent == Path("/var/lib/recheckbot")


def test_compose_wiring() -> None:
    main = load_docs(DEPLOY / "compose.yaml")[0]
    irc = load_docs(DEPLOY / "compose.irc.yaml")[0]
    bot = main["services"]["recheckbot"]
    assert (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).is_file()
    assert bot["command"][:2] == ["run", "--config"]
    mounted = {v.split(":")[1]: DEPLOY / v.split(":")[0] for v in bot["volumes"] if "/" in v[:3]}
    assert mounted[bot["command"][2]].is_file()
    assert all(path.exists() for path in mounted.values())
    assert "127.0.0.1:8080:8080" in bot["ports"]
    services = set(main["services"]) | set(irc["services"])
    for service in merge(main, irc)["services"].values():
        assert set(service.get("depends_on", {})) <= services
    ngircd = irc["services"]["ngircd"]["build"]
    assert (DEPLOY / ngircd["context"] / ngircd["dockerfile"]).is_file()


def test_ngircd_config_is_valid() -> None:
    ngircd = require_program("ngircd")
    conf = DEPLOY / "compose" / "ngircd.conf"
    proc = subprocess.run(
        [ngircd, "-t", "-f", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Can't" not in proc.stdout + proc.stderr


# --- the Containerfile --------------------------------------------------------------------------

CONTAINERFILES = [ROOT / "Containerfile", DEPLOY / "compose" / "ngircd.Containerfile"]


@pytest.mark.parametrize("path", CONTAINERFILES, ids=lambda p: p.name)
def test_containerfile_passes_hadolint(path: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    program = str(hadolint) if hadolint.exists() else require_program("hadolint")
    proc = subprocess.run([program, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def test_containerfile_runs_the_bot_as_a_non_root_user() -> None:
    steps = instructions(ROOT / "Containerfile")
    args = {v.split("=")[0]: v.split("=", 1)[1] for k, v in steps if k == "ARG" and "=" in v}
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    runtime = steps[last_from:]
    base = args["PYTHON_IMAGE"]
    assert re.search(r"@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+[\w.-]*$", base), f"unpinned {base}"
    [user] = [v for k, v in runtime if k == "USER"]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), "USER must be a numeric non-root uid"
    [health] = [v for k, v in runtime if k == "HEALTHCHECK"]
    assert "/healthz" in health
    assert "RECHECKBOT_DASHBOARD__PORT" in health
    assert json.loads(dict(runtime)["ENTRYPOINT"]) == ["recheckbot"]
    assert json.loads(dict(runtime)["CMD"]) == ["run", "--config", "/etc/recheckbot/config.yaml"]
    assert str(DashboardSettings().port) in dict(runtime)["EXPOSE"]
    for kind, value in steps:
        assert kind != "ADD", "COPY only: ADD fetches URLs and unpacks archives"
        if kind == "COPY" and not value.startswith("--from"):
            for source in value.split()[:-1]:
                assert (ROOT / source).exists(), source
