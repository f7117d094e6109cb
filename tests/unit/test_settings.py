"""Connection settings rendered from profiles.yml, the one source dbt and the trainer share."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.errors import PipelineError
from trainer.store.settings import load_store_settings, project_var

PROFILES = """
aml:
  target: "{{ env_var('DBT_TARGET', 'embedded') }}"
  outputs:
    embedded:
      type: chdb
      path: "{{ env_var('CHDB_PATH', '.chdb') }}"
      schema: registry_db
    server:
      type: clickhouse
      host: "{{ env_var('CLICKHOUSE_HOST', 'localhost') }}"
      port: "{{ env_var('CLICKHOUSE_PORT', '8123') | int }}"
      user: reader
      password: "{{ env_var('CLICKHOUSE_PASSWORD') }}"
      secure: "{{ env_var('CLICKHOUSE_SECURE', 'false') | as_bool }}"
      schema: aml
    odd:
      type: postgres
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "dbt_project.yml").write_text("profile: aml\nvars:\n  network: solana\n")
    (tmp_path / "profiles.yml").write_text(PROFILES)
    for name in (
        "DBT_TARGET",
        "CHDB_PATH",
        "CLICKHOUSE_HOST",
        "CLICKHOUSE_PORT",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_SECURE",
        "DBT_PROFILES_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(tmp_path))
    return tmp_path


def test_embedded_path_is_resolved_against_the_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_store_settings()
    assert (settings.kind, settings.path, settings.registry_database) == ("chdb", str(project / ".chdb"), "registry_db")
    monkeypatch.setenv("CHDB_PATH", "/data/store")
    assert load_store_settings().path == "/data/store"


def test_server_target_renders_types_and_hides_the_password(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_TARGET", "server")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "pw-123")
    monkeypatch.setenv("CLICKHOUSE_PORT", "9440")
    monkeypatch.setenv("CLICKHOUSE_SECURE", "yes")
    settings = load_store_settings()
    assert (settings.kind, settings.host, settings.port, settings.user, settings.secure) == (
        "clickhouse",
        "localhost",
        9440,
        "reader",
        True,
    )
    assert settings.password == "pw-123" and "pw-123" not in repr(settings) and settings.describe() == "https://localhost:9440"


def test_configuration_problems_fail_in_one_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PipelineError, match="needs the environment variable CLICKHOUSE_PASSWORD"):
        load_store_settings(target="server")
    with pytest.raises(PipelineError, match="has type 'postgres'; the trainer supports chdb and clickhouse"):
        load_store_settings(target="odd")
    with pytest.raises(PipelineError, match="has no target 'nowhere'"):
        load_store_settings(target="nowhere")
    (project / "profiles.yml").unlink()
    with pytest.raises(PipelineError, match="copy profiles.yml.example to profiles.yml"):
        load_store_settings()


def test_profiles_dir_and_project_vars(project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path_factory.mktemp("profiles")
    (elsewhere / "profiles.yml").write_text(PROFILES.replace("registry_db", "other_registry"))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(elsewhere))
    assert load_store_settings().registry_database == "other_registry"
    assert project_var("network") == "solana"
    with pytest.raises(PipelineError, match="declares no var 'nope'"):
        project_var("nope")
