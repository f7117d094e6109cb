"""Connection settings from the dbt `profiles.yml`: dbt and the trainer share one source of truth."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml

from trainer.errors import PipelineError


@dataclass(frozen=True)
class StoreSettings:
    """Where ClickHouse is: an embedded chDB directory, or a server over HTTP(S)."""

    kind: str  # "chdb" or "clickhouse"
    registry_database: str
    path: str = ""
    host: str = ""
    port: int = 8123
    user: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False

    def describe(self) -> str:
        """Where the store is, for logs: never the password."""
        return f"chdb:{self.path}" if self.kind == "chdb" else f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"


def project_dir() -> Path:
    """The directory holding dbt_project.yml: DBT_PROJECT_DIR, else the working directory or its parents."""
    explicit = os.environ.get("DBT_PROJECT_DIR")
    if explicit:
        return Path(explicit).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise PipelineError(f"no dbt_project.yml in {here} or its parents: run from the repository or set DBT_PROJECT_DIR")


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise PipelineError(f"profiles.yml needs the environment variable {name}, which is not set")
    return default


def _as_bool(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _render(value: object, environment: jinja2.Environment) -> object:
    if isinstance(value, str):
        return environment.from_string(value).render()
    if isinstance(value, dict):
        return {key: _render(item, environment) for key, item in value.items()}
    return value


def load_store_settings(target: str | None = None) -> StoreSettings:
    """Read the profile named in dbt_project.yml from profiles.yml and resolve its target."""
    root = project_dir()
    profiles_path = Path(os.environ.get("DBT_PROFILES_DIR", root)) / "profiles.yml"
    if not profiles_path.is_file():
        raise PipelineError(f"{profiles_path} not found: copy profiles.yml.example to profiles.yml")
    profile_name = yaml.safe_load((root / "dbt_project.yml").read_text())["profile"]
    profiles = yaml.safe_load(profiles_path.read_text()) or {}
    if profile_name not in profiles:
        raise PipelineError(f"{profiles_path} has no profile {profile_name!r}")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    environment.globals["env_var"] = _env_var
    environment.filters["as_bool"] = _as_bool
    environment.filters["as_number"] = float
    profile = profiles[profile_name]
    target_name = target or os.environ.get("DBT_TARGET") or str(_render(profile.get("target", ""), environment))
    outputs = profile.get("outputs", {})
    if target_name not in outputs:
        raise PipelineError(f"profile {profile_name!r} has no target {target_name!r} (targets: {', '.join(outputs)})")
    output = _render(outputs[target_name], environment)
    assert isinstance(output, dict)
    kind = str(output.get("type"))
    registry_database = str(output.get("schema") or "default")
    if kind == "chdb":
        path = Path(str(output.get("path", ".chdb")))
        return StoreSettings(kind=kind, registry_database=registry_database, path=str(path if path.is_absolute() else root / path))
    if kind == "clickhouse":
        return StoreSettings(
            kind=kind,
            registry_database=registry_database,
            host=str(output.get("host", "localhost")),
            port=int(output.get("port") or 8123),
            user=str(output.get("user", "default")),
            password=str(output.get("password", "")),
            secure=_as_bool(output.get("secure", False)),
        )
    raise PipelineError(f"target {target_name!r} has type {kind!r}; the trainer supports chdb and clickhouse")


def project_var(name: str) -> object:
    """A var's default from dbt_project.yml (e.g. the network dbt builds when none is given)."""
    variables = yaml.safe_load((project_dir() / "dbt_project.yml").read_text()).get("vars", {})
    if name not in variables:
        raise PipelineError(f"dbt_project.yml declares no var {name!r}")
    return variables[name]
