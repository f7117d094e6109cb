"""Ingestion on a server: a server's file() reads its own disk, not the ingesting host's, so the drop files are
uploaded over the client's connection and then checked and loaded by the same SQL as on the embedded engine. The
embedded tier's ingest tests, collected here, run on the server target."""

from __future__ import annotations

from tests.integration.test_ingest import (  # noqa: F401  (collected here, on this tier's fixtures)
    drops,
    test_bad_drop_fails_naming_file_and_loads_nothing_of_it,
    test_empty_optional_files_and_undefined_upstream_values_load,
    test_good_drops_load_every_row_and_reingest_does_not_duplicate,
    test_missing_file_and_empty_file_fail_clearly,
)


def test_no_upload_table_outlives_an_ingest(client) -> None:
    left = client.command("SELECT count() FROM system.tables WHERE name LIKE '\\_upload\\_%' OR name LIKE '\\_ingest\\_%'")
    assert left == 0
