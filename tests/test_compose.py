"""Static checks that the container files agree with the application.

No Docker needed: docker-compose.yml is parsed with PyYAML and the Dockerfile
is read as text. The checks guard against drift between the deployment files
and the code:

* every Ampflow service runs a real ``ampflow`` subcommand,
* every ``AMPFLOW_*`` variable in the deployment files is a Settings field,
* published API/gateway ports match the Settings defaults,
* the Dockerfile installs with constraints.txt and runs ``ampflow``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

ENV_PREFIX = "AMPFLOW_"
# Services built from this repo's Dockerfile.
AMPFLOW_SERVICES = {"migrate", "worker", "gateway", "api", "seed"}
LONG_RUNNING = {"worker", "gateway", "api"}
SEARCH_ATTRIBUTES = {"StationId", "IdToken", "SessionState", "DriverId", "SessionKind"}


# --- helpers -----------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    # safe_load resolves YAML anchors and `<<` merge keys.
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_names(service: dict[str, Any]) -> set[str]:
    """Variable names of a service's `environment` (mapping or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return set(env)
    return {item.split("=", 1)[0] for item in env}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """{dependency: condition}; the short list form means `service_started`."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def container_port(spec: Any) -> int:
    """Container-side port of a compose `ports` entry (short or long syntax)."""
    if isinstance(spec, dict):
        return int(spec["target"])
    # "[ip:][host:]container[/proto]"
    return int(str(spec).split("/", 1)[0].rsplit(":", 1)[-1])


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments and continuations folded."""
    logical: list[str] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # comment inside a continued instruction
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    if buf:
        logical.append(buf)
    out = []
    for item in logical:
        word, _, rest = item.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerfile_args(name: str) -> list[str]:
    return [args for instr, args in dockerfile_instructions() if instr == name]


def exec_form(args: str) -> list[str]:
    """Parse an exec-form (JSON array) ENTRYPOINT/CMD."""
    value = json.loads(args)
    assert isinstance(value, list), f"expected exec form (JSON array), got {args!r}"
    return value


def dockerfile_env_names() -> set[str]:
    names: set[str] = set()
    for args in dockerfile_args("ENV"):
        # ENV KEY=VALUE [KEY=VALUE ...]  or legacy  ENV KEY VALUE
        if "=" in args.split()[0]:
            names.update(tok.split("=", 1)[0] for tok in args.split() if "=" in tok)
        else:
            names.add(args.split()[0])
    return names


def compose_ampflow_vars(compose: dict[str, Any]) -> set[str]:
    """AMPFLOW_* names set in any service env or interpolated (${AMPFLOW_...})."""
    names: set[str] = set()
    for service in compose["services"].values():
        names |= {n for n in env_names(service) if n.startswith(ENV_PREFIX)}
    names |= set(re.findall(r"\$\{(AMPFLOW_[A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    return names


def registered_search_attributes(compose: dict[str, Any]) -> set[str]:
    """Names in temporal-setup's `for name in A B C; do ensure_keyword ...` loop."""
    script = "\n".join(compose["services"]["temporal-setup"]["command"])
    match = re.search(r"for name in ([^;\n]+); do\s+retry ensure_keyword", script)
    assert match, "temporal-setup has no search-attribute loop"
    return set(match.group(1).split())


# --- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def ampflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if "build" in svc or str(svc.get("image", "")).startswith("ampflow")
    }


@pytest.fixture(scope="module")
def subcommands() -> set[str]:
    from ampflow.cli import subcommand_names

    names = set(subcommand_names())
    assert names, "ampflow.cli.subcommand_names() returned nothing"
    return names


@pytest.fixture(scope="module")
def settings_cls() -> Any:
    from runtime.settings import Settings

    return Settings


def settings_default(settings_cls: Any, field: str) -> Any:
    return settings_cls.model_fields[field].get_default(call_default_factory=True)


# --- compose structure (no application import needed) -----------------------


def test_compose_has_expected_services(compose, ampflow_services) -> None:
    expected_infra = {"postgres", "temporal", "temporal-setup", "temporal-ui"}
    assert expected_infra <= set(compose["services"])
    assert set(ampflow_services) == AMPFLOW_SERVICES


def test_ampflow_services_share_the_env_anchor(compose, ampflow_services) -> None:
    shared = compose["x-ampflow-env"]
    for name, svc in ampflow_services.items():
        assert svc.get("environment") == shared, f"{name} does not use x-ampflow-env"
    # Containers must listen on all interfaces, and the operator key is mandatory.
    assert shared["AMPFLOW_API_HOST"] == "0.0.0.0"
    assert shared["AMPFLOW_GATEWAY_HOST"] == "0.0.0.0"
    assert ":?" in shared["AMPFLOW_ADMIN_API_KEY"]
    # Temporal stores ciphertext only: every process gets the same, required codec key(s).
    assert ":?" in shared["AMPFLOW_TEMPORAL_CODEC_KEYS"]


def test_startup_ordering(compose, ampflow_services) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"  # must be the string, not YAML false
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"
    assert depends_on(services["temporal"]).get("postgres") == "service_healthy"
    for name in LONG_RUNNING:
        deps = depends_on(ampflow_services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        assert "temporal" in deps, name
        assert deps.get("temporal-setup") == "service_completed_successfully", name


def test_temporal_uses_postgres_and_registers_search_attributes(compose) -> None:
    services = compose["services"]
    env = services["temporal"]["environment"]
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgres"
    assert {"DB_PORT", "POSTGRES_USER", "POSTGRES_PWD"} <= set(env)

    setup = services["temporal-setup"]
    script = "\n".join(setup["command"])
    assert "search-attribute create" in script
    assert "--type Keyword" in script
    assert registered_search_attributes(compose) == SEARCH_ATTRIBUTES
    assert setup["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


# --- compose vs. application -------------------------------------------------


def test_search_attributes_match_workflow_contract(compose) -> None:
    from temporalio.api.enums.v1 import IndexedValueType

    from workflows.contract import SEARCH_ATTRIBUTES as contract_keys

    assert registered_search_attributes(compose) == {key.name for key in contract_keys}
    # temporal-setup registers everything as Keyword.
    for key in contract_keys:
        assert key.indexed_value_type == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, key.name


def test_empty_env_defaults_fall_back_to_settings_defaults(compose, settings_cls) -> None:
    # `${AMPFLOW_X:-}` passes an empty string into the container; Settings must
    # treat it as unset, or e.g. stripe_api_base would become "" instead of None.
    empty = re.findall(r"\$\{(AMPFLOW_[A-Z0-9_]+):-\}", COMPOSE_FILE.read_text())
    if empty:
        assert settings_cls.model_config.get("env_ignore_empty") is True, (
            f"{empty} default to empty strings; set env_ignore_empty=True on Settings"
        )


def test_ampflow_commands_are_real_subcommands(ampflow_services, subcommands) -> None:
    (default_cmd,) = dockerfile_args("CMD")
    for name, svc in ampflow_services.items():
        command = svc.get("command") or exec_form(default_cmd)
        assert isinstance(command, list) and command, f"{name}: use exec-form command"
        assert command[0] in subcommands, f"{name}: unknown subcommand {command[0]!r}"
        assert command[0] != "dev", f"{name}: `dev` is the embedded mode, not for compose"


def test_ampflow_env_vars_are_settings_fields(compose, settings_cls) -> None:
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    assert prefix.upper() == ENV_PREFIX

    fields = set(settings_cls.model_fields)
    used = compose_ampflow_vars(compose) | {
        n for n in dockerfile_env_names() if n.startswith(ENV_PREFIX)
    }
    assert used, "no AMPFLOW_* variables found"
    unknown = sorted(n for n in used if n.removeprefix(ENV_PREFIX).lower() not in fields)
    assert not unknown, f"not fields of runtime.settings.Settings: {unknown}"


@pytest.mark.parametrize(("service", "field"), [("api", "api_port"), ("gateway", "gateway_port")])
def test_published_ports_match_settings_defaults(
    compose, settings_cls, service: str, field: str
) -> None:
    default = int(settings_default(settings_cls, field))
    svc = compose["services"][service]
    ports = [container_port(p) for p in svc.get("ports", [])]
    assert ports == [default], f"{service} publishes {ports}, Settings.{field} is {default}"
    # An explicit port override in the env would have to agree too.
    override = (svc.get("environment") or {}).get(f"{ENV_PREFIX}{field.upper()}")
    if override is not None:
        assert int(override) == default

    exposed = {int(p.split("/")[0]) for args in dockerfile_args("EXPOSE") for p in args.split()}
    assert default in exposed, f"Dockerfile does not EXPOSE {default}"


# --- Dockerfile ----------------------------------------------------------------


def test_dockerfile_entrypoint_and_install() -> None:
    (base,) = dockerfile_args("FROM")
    assert base.split()[0] == "python:3.11-slim"

    (entrypoint,) = dockerfile_args("ENTRYPOINT")
    assert exec_form(entrypoint) == ["ampflow"]

    installs = [args for args in dockerfile_args("RUN") if "pip install" in args]
    assert any(
        re.search(r"(-c|--constraint)[ =]constraints\.txt\b", cmd) and re.search(r"\s\.(\s|$)", cmd)
        for cmd in installs
    ), f"no `pip install -c constraints.txt .` in {installs}"

    users = dockerfile_args("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "image must run as non-root"


def test_dockerignore_keeps_build_inputs() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "!"))
    ]
    for needed in ("pyproject.toml", "constraints.txt", "ampflow/__init__.py"):
        hits = [p for p in patterns if fnmatch.fnmatch(needed, p) or needed.startswith(p + "/")]
        assert not hits, f".dockerignore excludes {needed} via {hits}"
