"""Column-level lineage of every feature: the raw source columns its value is computed from and the dbt models it
passes through, read from the SQL dbt compiled, never from a hand-kept list.

Why a parser and the catalog: the marts select `* except (...)` from the families and the families expand macros
over the raw schema, so only the compiled SQL with the built columns says where a feature comes from. sqlglot
parses it in its ClickHouse dialect and traces each output column through CTEs, subqueries and stars; the star
expansion needs every table's columns, which `dbt docs generate` writes to catalog.json.

The walk starts at the mart's column and goes model by model: sqlglot's lineage of the column inside one model ends
at columns of the tables that model reads; a table that is a dbt model is walked in turn, a dbt source is a raw
table and ends the walk. What counts is value lineage, as sqlglot defines it: the columns inside the feature's
expression (window partitions and orders included), not join keys, filters or group keys. A feature computed
without any column (a row count) therefore has no raw column.

Two ClickHouse constructs are rewritten on the parsed tree first, since sqlglot's lineage does not follow them:
`ARRAY JOIN arr AS x` (x becomes `arrayJoin(arr)`, which is what it means) and named windows (`OVER w` gets the
partition and order of `WINDOW w AS (...)`). Whatever sqlglot still cannot trace (an unknown table, a star it
cannot expand, a column with no source) is reported per feature as `unresolved`, with the reason, never guessed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from clickhouse_connect.driver.client import Client
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.schema import MappingSchema

from trainer.errors import PipelineError
from trainer.features.contract import Feature, manifest_path, read_manifest

DIALECT = "clickhouse"


@dataclass(frozen=True)
class FeatureLineage:
    """Where one feature comes from. `raw_columns` are "raw_table.column", sorted; `models` run from the mart down to
    staging, each before the models it reads; `counts_rows_in` names the models where an aggregate of no column
    (count()) enters the value, which is all a feature without raw columns is made of. When `unresolved` gives a
    reason, the other fields hold only what was traced."""

    feature: str
    raw_columns: tuple[str, ...]
    models: tuple[str, ...]
    unresolved: str | None = None
    counts_rows_in: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "raw_columns": list(self.raw_columns),
            "models": list(self.models),
            "unresolved": self.unresolved,
            "counts_rows_in": list(self.counts_rows_in),
        }


class _Unresolved(Exception):
    """A model or a column the walk cannot trace; the message is the per-feature reason."""


@dataclass
class _Trace:
    """What one feature's walk collected."""

    raw_columns: set[str] = field(default_factory=set)
    counts_rows_in: set[str] = field(default_factory=set)
    edges: set[tuple[str, str]] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)


def _relation_key(relation_name: str | None) -> tuple[str, str] | None:
    """(database, table) of a dbt relation name such as `ethereum`.`stg_alerts`, unquoted."""
    if not relation_name:
        return None
    table = exp.to_table(relation_name, dialect=DIALECT)
    return table.db, table.name


def _sqlglot_type(data_type: str) -> str:
    """A catalog column type sqlglot can read; lineage only needs the names, so an unreadable type is UNKNOWN."""
    try:
        return exp.DataType.build(data_type, dialect=DIALECT).sql(DIALECT)
    except (SqlglotError, ValueError):
        return "UNKNOWN"


def _own_nodes(select: exp.Select) -> Iterable[exp.Expr]:
    """The nodes of one SELECT, not those of the queries nested in it (their names are their own)."""
    return select.walk(prune=lambda node: node is not select and isinstance(node, exp.Query))


def _inline_array_joins(tree: exp.Expr) -> exp.Expr:
    """`... ARRAY JOIN arr AS x` -> x read as `arrayJoin(arr)`: the element comes from the array, which sqlglot can
    then trace (it leaves the alias of an ARRAY JOIN without a source)."""
    for select in list(tree.find_all(exp.Select)):
        elements: dict[str, exp.Expr] = {}
        kept = []
        for join in select.args.get("joins") or []:
            if join.args.get("kind") != "ARRAY":
                kept.append(join)
                continue
            for item in [join.this, *join.expressions]:
                if isinstance(item, exp.Alias):
                    elements[item.alias] = exp.Anonymous(this="arrayJoin", expressions=[item.this.copy()])
            # an ARRAY JOIN without aliases keeps the array's own name, which sqlglot resolves as it is
        if not elements:
            continue
        select.set("joins", kept or None)
        for column in [node for node in _own_nodes(select) if isinstance(node, exp.Column)]:
            if not column.table and column.name in elements:
                element = elements[column.name].copy()
                column.replace(exp.alias_(element, column.name) if column.parent is select else element)
    return tree


def _inline_named_windows(tree: exp.Expr) -> exp.Expr:
    """`f() OVER w ... WINDOW w AS (PARTITION BY a ORDER BY b)` -> `f() OVER (PARTITION BY a ORDER BY b)`, so the
    partition and order columns count as the value's inputs like those of an inline window."""
    for select in list(tree.find_all(exp.Select)):
        named = {window.name: window for window in select.args.get("windows") or []}
        if not named:
            continue
        for window in [node for node in _own_nodes(select) if isinstance(node, exp.Window) and node.parent is not select]:
            definition = named.get(window.alias) if isinstance(window.args.get("alias"), exp.Identifier) else None
            if definition is None or window.args.get("partition_by") or window.args.get("order"):
                continue
            for part in ("partition_by", "order", "spec"):
                if definition.args.get(part):
                    value = definition.args[part]
                    window.set(part, [item.copy() for item in value] if isinstance(value, list) else value.copy())
            window.set("alias", None)
        select.set("windows", None)
    return tree


class LineageResolver:
    """Traces features through one dbt project state: the manifest (models, sources, compiled SQL) and the catalog
    (columns of every built relation). Each model is parsed and traced once and reused by every feature and table."""

    def __init__(self, manifest: dict[str, Any], catalog: dict[str, Any], compiled_sql: dict[str, str] | None = None) -> None:
        self._models: dict[str, dict[str, Any]] = {}
        self._relations: dict[tuple[str, str], tuple[str, str]] = {}  # (database, table) -> ("model" | "source", name)
        for node in manifest["nodes"].values():
            if node["resource_type"] == "model":
                self._models[node["name"]] = node
                key = _relation_key(node.get("relation_name"))
                if key:
                    self._relations[key] = ("model", node["name"])
        for source in manifest.get("sources", {}).values():
            key = _relation_key(source.get("relation_name"))
            if key:
                self._relations[key] = ("source", source.get("identifier") or source["name"])
        self._compiled = {name: node.get("compiled_code") for name, node in self._models.items() if node.get("compiled_code")}
        self._compiled.update(compiled_sql or {})
        tables: dict[str, dict[str, dict[str, str]]] = {}
        for entry in [*catalog.get("nodes", {}).values(), *catalog.get("sources", {}).values()]:
            meta = entry["metadata"]
            columns = sorted(entry.get("columns", {}).values(), key=lambda column: column.get("index", 0))
            tables.setdefault(meta["schema"], {})[meta["name"]] = {column["name"]: _sqlglot_type(column["type"]) for column in columns}
        self._catalogued = {(database, table) for database, by_table in tables.items() for table in by_table}
        self._schema = MappingSchema(tables, dialect=DIALECT)
        self._traced: dict[str, dict[str, Node] | _Unresolved] = {}

    def model_columns(self, model: str) -> dict[str, Node]:
        """sqlglot's lineage of every output column of a model's compiled SQL (parsed once, then cached)."""
        if model not in self._traced:
            try:
                self._traced[model] = self._trace_model(model)
            except _Unresolved as reason:
                self._traced[model] = reason
        traced = self._traced[model]
        if isinstance(traced, _Unresolved):
            raise traced
        return traced

    def _trace_model(self, model: str) -> dict[str, Node]:
        sql = self._compiled.get(model)
        if not sql:
            raise _Unresolved(f"no compiled SQL for {model} (run dbt docs generate)")
        sqlglot_logger = logging.getLogger("sqlglot")
        level = sqlglot_logger.level
        sqlglot_logger.setLevel(logging.ERROR)  # its warnings print whole queries; what they mean lands in `unresolved`
        try:
            tree = sqlglot.parse_one(sql, dialect=DIALECT)
            tree = _inline_named_windows(_inline_array_joins(tree))
            traced = lineage(None, tree, schema=self._schema, dialect=DIALECT, copy=False, trim_selects=False)
        except SqlglotError as error:
            raise _Unresolved(f"sqlglot cannot trace {model}: {str(error).splitlines()[0][:160]}") from error
        finally:
            sqlglot_logger.setLevel(level)
        assert isinstance(traced, dict)
        return traced

    def features(self, table: str, features: Iterable[Feature]) -> dict[str, FeatureLineage]:
        """The lineage of each feature of mart `table`, by feature name."""
        if table not in self._models:
            raise PipelineError(f"dbt project has no model {table!r}; the dbt manifest is stale or foreign")
        return {feature.name: self.column(table, feature.name) for feature in features}

    def column(self, model: str, column: str) -> FeatureLineage:
        """The lineage of one output column of a model."""
        trace = _Trace()
        self._walk(model, column, trace, visited=set())
        return FeatureLineage(
            feature=column,
            raw_columns=tuple(sorted(trace.raw_columns)),
            models=_top_down(model, trace.edges),
            unresolved="; ".join(dict.fromkeys(trace.reasons)) or None,
            counts_rows_in=tuple(sorted(trace.counts_rows_in)),
        )

    def _walk(self, model: str, column: str, trace: _Trace, visited: set[tuple[str, str]]) -> None:
        if (model, column) in visited:
            return
        visited.add((model, column))
        try:
            columns = self.model_columns(model)
        except _Unresolved as reason:
            trace.reasons.append(str(reason))
            return
        if column not in columns:
            missing = (
                "a * it cannot expand (a table it reads is absent from the catalog)" if "*" in columns else f"no output column {column}"
            )
            trace.reasons.append(f"{model}'s compiled SQL has {missing}")
            return
        pending = [columns[column]]
        while pending:
            node = pending.pop()
            if isinstance(node.expression, exp.Star):
                trace.reasons.append(self._star_reason(model, node))
            elif isinstance(node.expression, exp.Query) and not isinstance(node.source, exp.Table):
                # sqlglot stands the whole query in for a column it cannot find there
                trace.reasons.append(f"{model}: sqlglot finds no column {node.name} in its source")
            elif node.downstream:
                pending.extend(node.downstream)
            elif isinstance(node.source, exp.Table):
                self._read_table(model, node, trace, visited)
            elif isinstance(node.source, exp.Placeholder) or node.expression.find(exp.Column):
                trace.reasons.append(f"{model}: sqlglot finds no source for {node.name}")
            elif node.expression.find(exp.AggFunc):
                trace.counts_rows_in.add(model)
            # else: a literal, which adds no input

    def _star_reason(self, model: str, node: Node) -> str:
        """Why a `select *` stayed a star: the tables it reads that the catalog does not list (or dbt does not know)."""
        tables = [(table.db, table.name) for table in node.source.find_all(exp.Table)]
        unknown = [f"{db}.{name}" for db, name in tables if (db, name) not in self._relations]
        if unknown:
            return f"{model} reads {', '.join(unknown)}, which is neither a dbt model nor a source"
        absent = [name for db, name in tables if (db, name) not in self._catalogued]
        if absent:
            return f"{model} selects * from {', '.join(absent)}, absent from the catalog"
        return f"{model}: sqlglot cannot expand a * for {node.name}"

    def _read_table(self, model: str, node: Node, trace: _Trace, visited: set[tuple[str, str]]) -> None:
        """A leaf of one model's lineage: a column of a table the model reads."""
        table = node.source
        assert isinstance(table, exp.Table)
        name = node.name.rsplit(".", 1)[-1]
        kind, relation = self._relations.get((table.db, table.name), ("", ""))
        if not kind:
            trace.reasons.append(f"{model} reads {table.db}.{table.name}, which is neither a dbt model nor a source")
        elif name == "*":
            trace.reasons.append(f"{model} selects * from {relation}, absent from the catalog")
        elif kind == "source":
            trace.raw_columns.add(f"{relation}.{name}")
        else:
            trace.edges.add((model, relation))
            self._walk(relation, name, trace, visited)


def _top_down(start: str, edges: set[tuple[str, str]]) -> tuple[str, ...]:
    """The models of a walk, each before every model it reads (ties by name): the mart first, staging last."""
    models = {start} | {model for edge in edges for model in edge}
    waiting = {model: sum(1 for _, read in edges if read == model) for model in models}
    ready = sorted(model for model, count in waiting.items() if count == 0)
    ordered: list[str] = []
    while ready:
        model = ready.pop(0)
        ordered.append(model)
        for reader, read in sorted(edges):
            if reader == model:
                waiting[read] -= 1
                if waiting[read] == 0:
                    ready = sorted([*ready, read])
    return tuple(ordered)


def feature_lineage(
    manifest: dict[str, Any], catalog: dict[str, Any], compiled_sql: dict[str, str] | None, features: Iterable[Feature], table: str
) -> dict[str, FeatureLineage]:
    """The lineage of each feature of mart `table`; `compiled_sql` (model name -> SQL) overrides the manifest's
    compiled code. One resolver per call: use LineageResolver directly to share parsed models between tables."""
    return LineageResolver(manifest, catalog, compiled_sql).features(table, features)


def catalog_path(manifest: Path | None = None) -> Path:
    """dbt's catalog.json, written by `dbt docs generate` beside the manifest."""
    return (manifest or manifest_path()).parent / "catalog.json"


def load_resolver(manifest: Path | None = None) -> LineageResolver:
    """A resolver over dbt's target directory: the manifest and the catalog of the last `dbt docs generate`."""
    catalog_file = catalog_path(manifest)
    if not catalog_file.is_file():
        raise PipelineError(f"no dbt catalog at {catalog_file}: run dbt docs generate first")
    manifest_data = read_manifest(manifest)
    catalog = json.loads(catalog_file.read_text())
    _check_same_project_state(manifest_data, catalog, catalog_file)
    return LineageResolver(manifest_data, catalog)


def _check_same_project_state(manifest: dict[str, Any], catalog: dict[str, Any], catalog_file: Path) -> None:
    """The catalog must describe the relations the manifest names (same network), and the manifest must hold
    compiled SQL: otherwise every feature would be unresolved for a reason the user fixes with one command."""
    models = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    if not any(node.get("compiled_code") for node in models):
        raise PipelineError("the dbt manifest holds no compiled SQL: run dbt docs generate first")
    for unique_id, entry in catalog.get("nodes", {}).items():
        node = manifest["nodes"].get(unique_id)
        if node and node.get("schema") != entry["metadata"]["schema"]:
            raise PipelineError(
                f"{catalog_file} describes database {entry['metadata']['schema']} but the dbt manifest {node.get('schema')}: "
                "run dbt docs generate for the network you read"
            )


def catalog_from_store(client: Client, network: str, schema: str | None = None) -> dict[str, Any]:
    """A catalog-shaped view of the network's built tables (their columns and types, from system.columns): what the
    resolver needs from catalog.json, without `dbt docs generate`. Training uses it for the model card. `schema`
    names the tables as the manifest does when its last build was for another network (the SQL is the same)."""
    result = client.query(
        "SELECT table, name, type, position FROM system.columns WHERE database = {database:String} ORDER BY table, position",
        parameters={"database": network},
    )
    nodes: dict[str, dict[str, Any]] = {}
    for table, name, column_type, position in result.result_rows:
        entry = nodes.setdefault(table, {"metadata": {"schema": schema or network, "name": table}, "columns": {}})
        entry["columns"][name] = {"name": name, "type": column_type, "index": int(position)}
    return {"nodes": nodes, "sources": {}}
