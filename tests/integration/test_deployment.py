"""Deployment assets: Dockerfile, .dockerignore, docker-compose.yml and deploy/kubernetes.yaml.

Docker cannot run here, so the files are checked for the facts the deployment relies on (stages, non-root
user, health check, ports, mounted config, shutdown timing), and the image's HEALTHCHECK command is run for
real against a server on a loopback port. YAML is parsed with PyYAML when it is installed; a text check of
the same facts always runs.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aura.adapters.http import ServerOptions, create_app, start_app
from aura.adapters.http.app import SERVER_STATE
from aura.adapters.http.readiness import CHECK_TIMEOUT_SECS
from aura.domain.agent import Agent, AgentSettings
from aura.entrypoints.config import load_config
from aura.testing import ScriptedChatModel, reply
from tests.integration.http.support import free_port

REPO = Path(__file__).parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "docker-compose.yml"
KUBERNETES = REPO / "deploy" / "kubernetes.yaml"
PLACEHOLDER = re.compile(r"\{\{\s*env\.([A-Z_][A-Z0-9_]*)\s*(\|[^}]*)?\}\}")
# Worst case after SIGTERM: the grace period, then up to 5 s for streams to close and 10 s of connection drain.
SHUTDOWN_OVERHEAD_SECS = 15


def yaml_module() -> Any:
    return pytest.importorskip("yaml", reason="PyYAML is not installed; the text checks still ran")


# ------------------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, arguments = stripped.partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
    return instructions


def stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """Each build stage's name and its instructions (after its FROM)."""
    result: list[tuple[str, list[tuple[str, str]]]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            match = re.fullmatch(r"\S+ AS (\S+)", arguments, flags=re.IGNORECASE)
            assert match is not None, f"every stage is named: FROM {arguments}"
            result.append((match.group(1), []))
        elif result:
            result[-1][1].append((keyword, arguments))
    return result


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1][1]


def test_dockerfile_is_multi_stage_with_a_venv_built_in_the_builder() -> None:
    names = [name for name, _ in stages()]
    assert names == ["builder", "runtime"]
    runs = " ".join(arguments for keyword, arguments in stages()[0][1] if keyword == "RUN")
    assert "python -m venv /opt/venv" in runs
    assert "pip install ." in runs
    copies = [arguments for keyword, arguments in final_stage() if keyword == "COPY"]
    assert "--from=builder /opt/venv /opt/venv" in copies
    assert not any("src/" in copy for copy in copies), "the runtime stage gets the installed venv, not the sources"


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "a numeric uid lets Kubernetes runAsNonRoot verify it"
    assert int(uid) != 0
    assert gid == "" or int(gid) != 0
    user_index = max(i for i, (keyword, _) in enumerate(final_stage()) if keyword == "USER")
    later = [keyword for keyword, _ in final_stage()[user_index:]]
    assert "RUN" not in later, "nothing runs as root after USER"


def test_runtime_serves_on_8080_with_the_container_defaults() -> None:
    instructions = final_stage()
    assert ("EXPOSE", "8080") in instructions
    env = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")
    for setting in ("HOST=0.0.0.0", "PORT=8080", "CONFIG_PATH=/app/config"):
        assert setting in env.split(), f"ENV {setting}"
    assert ("ENTRYPOINT", '["aura"]') in instructions
    assert ("CMD", '["serve"]') in instructions
    assert ("STOPSIGNAL", "SIGTERM") in instructions


def healthcheck_command() -> list[str]:
    healthchecks = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    match = re.search(r"\bCMD (\[.*\])$", healthchecks[0])
    assert match is not None, "HEALTHCHECK uses the exec form: CMD [...]"
    command: list[str] = json.loads(match.group(1))
    assert command[0] == "python", "the image has no curl: the check uses Python's urllib"
    assert "/health" in command[-1]
    return command


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[Any, int]]:
    agent = Agent(AgentSettings(name="probe", system_prompt="-"), ScriptedChatModel([reply("ok")]))
    app = create_app([agent], ServerOptions())
    runner, port = await start_app(app, "127.0.0.1", 0)
    try:
        yield app, port
    finally:
        await runner.cleanup()


async def run_healthcheck(port: int) -> int:
    command = [sys.executable, *healthcheck_command()[1:]]
    process = await asyncio.create_subprocess_exec(
        *command,
        env={"PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with asyncio.timeout(30):
        return await process.wait()


async def test_the_image_healthcheck_passes_while_serving_and_fails_during_shutdown(
    health_server: tuple[Any, int],
) -> None:
    app, port = health_server
    assert await run_healthcheck(port) == 0
    app[SERVER_STATE].coordinator.begin()  # phase 1 of a graceful shutdown: /health answers 503
    assert await run_healthcheck(port) != 0


async def test_the_image_healthcheck_fails_when_nothing_listens() -> None:
    assert await run_healthcheck(free_port()) != 0


# ---------------------------------------------------------------------------------------- .dockerignore


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.removeprefix("**/")
        if any(
            fnmatch.fnmatch(candidate, body) or fnmatch.fnmatch(candidate.split("/")[-1], body)
            for candidate in candidates
        ):
            verdict = not negated
    return verdict


def dockerignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def test_the_build_context_has_what_the_dockerfile_copies_and_no_secrets() -> None:
    patterns = dockerignore_patterns()
    sources = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in arguments:
            sources.extend(arguments.split()[:-1])
    assert sources, "the Dockerfile copies files from the context"
    for source in sources:
        source = source.rstrip("/")
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
    assert not ignored("src/aura/entrypoints/cli.py", patterns)
    for private in (".env", "examples/.env", ".git/config", ".venv/bin/python", "tests/unit/test_container.py"):
        assert ignored(private, patterns), f"{private} would be sent to the Docker daemon"
    assert ignored("src/aura/__pycache__/cli.cpython-311.pyc", patterns)


# ------------------------------------------------------------------------------------ docker-compose.yml


def compose_default(value: str) -> str:
    """`${NAME:-default}` -> default (what compose uses when NAME is unset)."""
    return re.sub(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}", r"\1", value)


def required_variables(config_dir: Path) -> set[str]:
    """`{{ env.X }}` placeholders without a default in the configs of a directory."""
    names: set[str] = set()
    for path in config_dir.glob("*.toml"):
        names |= {name for name, default in PLACEHOLDER.findall(path.read_text()) if not default}
    return names


def test_compose_text_has_the_server_and_qdrant() -> None:
    text = COMPOSE.read_text()
    assert re.search(r"^  aura:$", text, flags=re.MULTILINE)
    assert re.search(r"^  qdrant:$", text, flags=re.MULTILINE)
    assert re.search(r'- "\$\{AURA_PORT:-8080\}:8080"', text)
    assert ":/app/config:ro" in text
    assert "QDRANT_URL=http://qdrant:6334" in text
    assert "stop_grace_period: 45s" in text


def test_compose_file_structure() -> None:
    yaml = yaml_module()
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"aura", "qdrant", "redis"}
    aura = services["aura"]
    assert aura["build"]["context"] == "."
    assert [compose_default(port) for port in aura["ports"]] == ["8080:8080"]

    mounts = [compose_default(volume) for volume in aura["volumes"]]
    config_mount = next(mount for mount in mounts if mount.split(":")[1] == "/app/config")
    host_dir = REPO / config_mount.split(":")[0]
    assert list(host_dir.glob("*.toml")), f"{host_dir} should hold the agents to serve"

    environment = {entry.partition("=")[0]: entry.partition("=")[2] for entry in aura["environment"]}
    assert environment["CONFIG_PATH"] == "/app/config"
    missing = required_variables(host_dir) - set(environment)
    assert missing == set(), f"variables the mounted configs need but compose does not pass: {missing}"
    qdrant_url = environment["QDRANT_URL"]
    assert qdrant_url == "http://qdrant:6334"
    assert "6334:6334" in services["qdrant"]["ports"]

    grace = int(aura["stop_grace_period"].removesuffix("s"))
    assert grace >= int(environment["SHUTDOWN_TIMEOUT_SECS"]) + SHUTDOWN_OVERHEAD_SECS
    assert "qdrant-data" in compose["volumes"]
    assert environment["SESSION_STORE_URL"] == "redis://redis:6379/0"
    assert "redis" in aura["depends_on"]


def test_compose_default_config_dir_loads_with_its_passed_through_variables() -> None:
    environ = dict.fromkeys(required_variables(REPO / "examples" / "multi-agent"), "dummy")
    loaded = load_config(REPO / "examples" / "multi-agent", environ=environ, dotenv=False)
    assert loaded.ids == ("sre/host", "incident/scribe", "runbooks")


# -------------------------------------------------------------------------------- deploy/kubernetes.yaml


def test_kubernetes_text_has_probes_and_shutdown_timing() -> None:
    text = KUBERNETES.read_text()
    for kind in ("ConfigMap", "Deployment", "Service", "PodDisruptionBudget"):
        assert re.search(rf"^kind: {kind}$", text, flags=re.MULTILINE), kind
    assert len(re.findall(r"path: /health$", text, flags=re.MULTILINE)) == 2  # startup, liveness
    assert len(re.findall(r"path: /ready$", text, flags=re.MULTILINE)) == 1  # readiness
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", text).group(1))  # type: ignore[union-attr]
    shutdown = int(re.search(r'SHUTDOWN_TIMEOUT_SECS\n\s+value: "(\d+)"', text).group(1))  # type: ignore[union-attr]
    assert grace >= shutdown + SHUTDOWN_OVERHEAD_SECS
    assert "runAsNonRoot: true" in text


def kubernetes_documents() -> dict[str, dict[str, Any]]:
    yaml = yaml_module()
    documents = [document for document in yaml.safe_load_all(KUBERNETES.read_text()) if document]
    by_kind = {document["kind"]: document for document in documents}
    assert len(by_kind) == len(documents), "one object per kind"
    return by_kind


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_kubernetes_deployment_probes_ports_and_security() -> None:
    objects = kubernetes_documents()
    assert set(objects) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    deployment = objects["Deployment"]
    pod = deployment["spec"]["template"]
    container = container_of(deployment)
    env = {item["name"]: item.get("value") for item in container["env"]}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": int(env["PORT"])}
    assert env["HOST"] == "0.0.0.0"
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    # readiness asks the vector stores; liveness must not, or a Qdrant outage would restart every pod
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["readinessProbe"]["failureThreshold"] == 1, "leave the Service at the first 503"
    assert container["readinessProbe"]["timeoutSeconds"] > CHECK_TIMEOUT_SECS, "the 503 arrives before the timeout"

    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop_secs = int(pre_stop[1]) if pre_stop[0] == "sleep" else 0
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace >= pre_stop_secs + int(env["SHUTDOWN_TIMEOUT_SECS"]) + SHUTDOWN_OVERHEAD_SECS

    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = objects["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_kubernetes_points_the_session_store_at_the_redis_service() -> None:
    yaml = yaml_module()
    redis = {
        document["kind"]: document for document in yaml.safe_load_all((REPO / "deploy" / "redis.yaml").read_text())
    }
    service_name = redis["Service"]["metadata"]["name"]
    assert (
        redis["Service"]["spec"]["selector"].items()
        <= redis["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    )
    env = {item["name"]: item.get("value") for item in container_of(kubernetes_documents()["Deployment"])["env"]}
    assert env["SESSION_STORE_URL"] == f"redis://{service_name}:6379/0"


def test_kubernetes_configmap_holds_valid_agents_at_config_path(tmp_path: Path) -> None:
    objects = kubernetes_documents()
    deployment = objects["Deployment"]
    container = container_of(deployment)
    env = {item["name"]: item.get("value") for item in container["env"]}
    mount = next(mount for mount in container["volumeMounts"] if mount["mountPath"] == env["CONFIG_PATH"])
    volume = next(
        volume for volume in deployment["spec"]["template"]["spec"]["volumes"] if volume["name"] == mount["name"]
    )
    configmap = objects["ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]

    for name, text in configmap["data"].items():
        assert name.endswith(".toml")
        tomllib.loads(text)
        (tmp_path / name).write_text(text)
    environ = {
        name: "dummy" for name, default in PLACEHOLDER.findall("\n".join(configmap["data"].values())) if not default
    }
    loaded = load_config(tmp_path, environ=environ, dotenv=False)  # what the pod loads from CONFIG_PATH
    assert env["DEFAULT_AGENT"] in loaded.ids
    assert loaded.ids == ("kubernetes-sre", "incident/scribe")
