"""No SQL text is built from values: an AST scan of every source file of the trainer and the adapter.

SQL text is an f-string or a concatenation holding a keyword in capitals or a `{name:Type}` placeholder, a `.format()`
or `.replace()` templating, and what a client call runs or inserts into. What goes into it must be a SqlName
(trainer.store.connection: a call of quote_identifier, qualified_name or another function declared to return one;
SqlName(...) around safe text; a parameter or field declared SqlName; a local whose every value is safe), a module
constant, or a literal: values are bound as parameters. A type check of one type, so functions and fields are known by
name across the sources; the declared ones are checked where they are defined (returns) and called (arguments)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest

from tests.conftest import REPO
from trainer.errors import PipelineError
from trainer.store.connection import SqlName, name_list, placeholder, qualified_name, quote_identifier, sql_type

# Every Python file of the trainer's packages and of the dbt adapter: the scan follows the code into sub-packages.
SOURCES = sorted([*(REPO / "trainer").rglob("*.py"), *(REPO / "adapters").rglob("*.py")])
# Text holding SQL: a keyword in capitals, or a bound parameter's placeholder ({name:Type}).
SQL = re.compile(
    r"\b(SELECT|INSERT|ALTER|CREATE|DROP|DELETE|DESCRIBE|EXISTS|TRUNCATE|RENAME|EXCHANGE|FROM|WHERE|JOIN|INTO|TABLE|AS|AND|OR|NOT|"
    r"IN|ORDER BY|GROUP BY|LIMIT|SETTINGS|PARTITION|FINAL|UNION)\b|\{\w+:[A-Z][\w(), ]*\}"
)
TYPE = "SqlName"
# The client methods that run SQL or insert into a table (clickhouse-connect's, and the embedded store's).
SINKS = {"command", "query", "query_arrow", "query_arrow_stream", "query_df", "query_np", "raw_query", "raw_stream", "insert",
         "insert_arrow", "insert_df", "raw_insert", "send_query", "send_insert"}  # fmt: skip
# The functions that turn a str into a SqlName by checking it at run time (a pattern) rather than by the scan.
VALIDATORS = {"quote_identifier", "placeholder", "sql_type"}
# SQL that is not built from names, and why it is safe. Keyed by file and function; keep it empty but for code that
# cannot import trainer.
TRUSTED = {
    ("adapters/dbt-chdb/dbt/adapters/chdb/connections.py", "columns_in_query"): "dbt's compiled model SQL, the project's code",
}


def _is_type(annotation: ast.expr | None) -> bool:
    return annotation is not None and ast.unparse(annotation).strip("'\"") in (TYPE, f"{TYPE} | None")


@dataclass
class Codebase:
    """What the files declare about SqlName, and their module-level constants."""

    returns: dict[str, bool] = field(default_factory=dict)  # function or method name -> every one of them returns a SqlName
    fields: dict[str, bool] = field(default_factory=dict)  # attribute name -> every class declares it a SqlName
    parameters: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # function -> its SqlName parameters
    constants: dict[str, dict[str, ast.expr]] = field(default_factory=dict)  # module -> module-level name -> its value
    imports: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # module -> local name -> (module, name)
    modules: set[str] = field(default_factory=set)  # module names bound by `import x` in some file

    @classmethod
    def of(cls, trees: dict[str, ast.Module]) -> Codebase:
        code = cls()
        for module, tree in trees.items():
            code.imports[module] = {}
            assigned: dict[str, list[ast.expr]] = {}
            for statement in tree.body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
                    assigned.setdefault(statement.targets[0].id, []).append(statement.value)
                elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
                    assigned.setdefault(statement.target.id, []).append(statement.value)
            # A module constant is assigned once; a name assigned again is not a constant, and not safe.
            code.constants[module] = {name: values[0] for name, values in assigned.items() if len(values) == 1}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for alias in node.names:
                        code.imports[module][alias.asname or alias.name] = (node.module, alias.name)
                elif isinstance(node, ast.Import):
                    code.modules.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    code.returns[node.name] = code.returns.get(node.name, True) and _is_type(node.returns)
                    arguments = [*node.args.posonlyargs, *node.args.args]
                    if arguments and arguments[0].arg in ("self", "cls"):
                        arguments = arguments[1:]  # called on an instance or class, which is not among the arguments
                    typed = [(index, argument.arg) for index, argument in enumerate(arguments) if _is_type(argument.annotation)]
                    typed += [(-1, argument.arg) for argument in node.args.kwonlyargs if _is_type(argument.annotation)]
                    if typed:  # functions of one name: the SqlName parameters of each are checked at every call
                        code.parameters.setdefault(node.name, []).extend(typed)
                elif isinstance(node, ast.ClassDef):  # a dataclass or named tuple: its fields are its parameters
                    fields = [s for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
                    for index, statement in enumerate(fields):
                        name = statement.target.id
                        code.fields[name] = code.fields.get(name, True) and _is_type(statement.annotation)
                        if _is_type(statement.annotation):
                            code.parameters.setdefault(node.name, []).append((index, name))
        return code


class Scope:
    """A function: its parameters declared SqlName, its other parameters, and each local name's assigned values (None
    for a binding the scan does not follow: unpacking, loops, with, except, augmented assignment, imports)."""

    def __init__(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.node, self.function = node, node.name
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]
        self.parameters = {argument.arg for argument in arguments if argument and _is_type(argument.annotation)}
        self.other_parameters = {argument.arg for argument in arguments if argument} - self.parameters

    @cached_property
    def bindings(self) -> dict[str, list[ast.expr | None]]:
        """Read only when a SQL text of the function names a local: most functions build no SQL."""
        bindings: dict[str, list[ast.expr | None]] = {}

        def bind(target: ast.AST, value: ast.expr | None) -> None:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    bindings.setdefault(name.id, []).append(value if name is target else None)

        for inner in _own_nodes(self.node):
            if isinstance(inner, ast.Assign):
                for target in inner.targets:
                    if isinstance(target, ast.Tuple) and isinstance(inner.value, ast.Tuple) and len(target.elts) == len(inner.value.elts):
                        for element, value in zip(target.elts, inner.value.elts, strict=True):  # a, b = x, y
                            bind(element, value)
                    else:
                        bind(target, inner.value)
            elif isinstance(inner, ast.AnnAssign) and inner.value is not None:
                bind(inner.target, inner.value)
            elif isinstance(inner, ast.AugAssign | ast.For | ast.AsyncFor | ast.NamedExpr):
                bind(inner.target, None)
            elif isinstance(inner, ast.With | ast.AsyncWith):
                for item in inner.items:
                    if item.optional_vars:
                        bind(item.optional_vars, None)
            elif isinstance(inner, ast.ExceptHandler) and inner.name:
                bindings.setdefault(inner.name, []).append(None)
            elif isinstance(inner, ast.Import | ast.ImportFrom):
                for alias in inner.names:
                    bindings.setdefault((alias.asname or alias.name).split(".")[0], []).append(None)
        return bindings


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, nested functions and classes left out (they are scopes of their own)."""
    for child in ast.iter_child_nodes(function):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            yield child
            yield from _own_nodes(child)


class Scan:
    """The offences of one module: SQL text holding a value that is neither a SqlName, a module constant nor a
    literal (values from input are bound as parameters and never appear in the text)."""

    def __init__(self, code: Codebase, module: str, path: str) -> None:
        self.code, self.module, self.path = code, module, path
        self.scopes: list[Scope] = []
        self.constant_names: list[set[str]] = []  # loop names of comprehensions over constant collections
        self.offences: list[str] = []
        self.trusted: set[tuple[str, str]] = set()  # the TRUSTED functions that build SQL here

    # What is safe to put into SQL text.
    def safe(self, node: ast.expr | None, seen: frozenset[str] = frozenset()) -> bool:
        if node is None:
            return False
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str | int | float) and not isinstance(node.value, bool)
        if isinstance(node, ast.JoinedStr):
            return all(self.safe(value.value, seen) for value in node.values if isinstance(value, ast.FormattedValue))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(node.left, seen) and self.safe(node.right, seen)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            return all(self.safe(value, seen) for value in node.values)
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, seen) and self.safe(node.orelse, seen)
        if isinstance(node, ast.Name):
            return self.safe_name(self.module, node.id, seen)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in self.code.modules | set(self.code.imports[self.module]):
                target = self.code.imports[self.module].get(node.value.id)
                module = f"{target[0]}.{target[1]}" if target else node.value.id
                if module in self.code.constants:
                    return self.safe_name(module, node.attr, seen)
            return self.code.fields.get(node.attr, False)
        if isinstance(node, ast.Call):
            return self.safe_call(node, seen)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):  # {"a": x, "b": y}[key]
            return all(self.safe(value, seen) for value in node.value.values)
        return False

    def safe_call(self, node: ast.Call, seen: frozenset[str]) -> bool:
        function = node.func
        name = function.id if isinstance(function, ast.Name) else function.attr if isinstance(function, ast.Attribute) else ""
        if self.code.returns.get(name, False):
            return True
        if name == TYPE:
            return len(node.args) == 1 and self.safe(node.args[0], seen)
        if isinstance(function, ast.Attribute) and name == "join" and len(node.args) == 1 and self.safe(function.value, seen):
            return self.safe_items(node.args[0], seen)
        if isinstance(function, ast.Attribute) and name in ("replace", "format"):
            arguments = [*node.args[1:2]] if name == "replace" else [*node.args, *(keyword.value for keyword in node.keywords)]
            return self.safe(function.value, seen) and all(self.safe(argument, seen) for argument in arguments)
        return False

    def safe_items(self, items: ast.expr, seen: frozenset[str]) -> bool:
        """The items of a join: a list or tuple, a comprehension, or a concatenation of them."""
        if isinstance(items, ast.GeneratorExp | ast.ListComp):
            constant = [g for g in items.generators if self.constant_collection(g.iter)]
            names = {n.id for g in constant for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            self.constant_names.append(names)
            try:
                return self.safe(items.elt, seen)
            finally:
                self.constant_names.pop()
        if isinstance(items, ast.BinOp) and isinstance(items.op, ast.Add):
            return self.safe_items(items.left, seen) and self.safe_items(items.right, seen)
        return isinstance(items, ast.List | ast.Tuple) and all(self.safe(item, seen) for item in items.elts)

    def constant_collection(self, node: ast.expr) -> bool:
        """A module constant holding a literal collection of constants (or its .items(), .keys(), .values())."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("items", "keys", "values"):
            node = node.func.value
        if not isinstance(node, ast.Name) or any(node.id in names for names in self.constant_names):
            return False
        value = self.code.constants.get(self.module, {}).get(node.id)
        literal = isinstance(value, ast.Dict | ast.List | ast.Tuple | ast.Set)
        return literal and all(
            isinstance(inner, ast.Constant) for inner in ast.walk(value) if isinstance(inner, ast.expr) and inner is not value
        )

    def safe_name(self, module: str, name: str, seen: frozenset[str]) -> bool:
        if module == self.module and any(name in names for names in self.constant_names):
            return True
        if module == self.module:
            for scope in reversed(self.scopes):
                if name in scope.parameters:
                    return True
                if name in scope.other_parameters:
                    return False
                if name in scope.bindings:
                    # Every value the name is given must be safe; a value built from the name itself (x = f"({x})")
                    # is as safe as its other values.
                    key = f"{scope.function}.{name}"
                    return key in seen or all(self.safe(value, seen | {key}) for value in scope.bindings[name])
        key = f"{module}.{name}"
        if key in seen:
            return False
        if name in self.code.constants.get(module, {}):
            return self.safe(self.code.constants[module][name], seen | {key})
        if name in self.code.imports.get(module, {}):
            source, original = self.code.imports[module][name]
            return source in self.code.constants and self.safe_name(source, original, seen | {key})
        return False

    # Where SQL is built.
    def offend(self, node: ast.AST, what: str) -> None:
        function = self.scopes[-1].function if self.scopes else ""
        if (self.path, function) in TRUSTED:
            self.trusted.add((self.path, function))
        else:
            self.offences.append(f"{self.path}:{node.lineno} {what}")

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.scopes.append(Scope(node))
            if _is_type(node.returns) and node.name not in VALIDATORS:
                for returned in ast.walk(node):
                    if isinstance(returned, ast.Return) and not self.safe(returned.value):
                        self.offend(returned, f"returns {ast.unparse(returned.value or ast.Constant(None))} as a {TYPE}")
            for child in ast.iter_child_nodes(node):
                self.visit(child)
            self.scopes.pop()
            return
        self.check(node)
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    def check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SINKS:
            # What a client runs or inserts into is SQL (a statement, a table name) even without a keyword in it.
            for argument in [*node.args[:1], *(keyword.value for keyword in node.keywords if keyword.arg in ("query", "cmd", "table"))]:
                if isinstance(argument, ast.JoinedStr | ast.BinOp) and not self.safe(argument):
                    self.offend(node, f"passes {ast.unparse(argument)} to .{node.func.attr}()")
        if isinstance(node, ast.JoinedStr) and SQL.search(_text(node)):
            for value in node.values:
                if isinstance(value, ast.FormattedValue) and not self.safe(value.value):
                    self.offend(node, f"interpolates {ast.unparse(value.value)} into SQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and SQL.search(_text(node)):
            for part in _summands(node):
                if not isinstance(part, ast.Constant) and not self.safe(part):
                    self.offend(node, f"concatenates {ast.unparse(part)} into SQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and SQL.search(_text(node.left)):
            self.offend(node, "builds SQL with %")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "replace"):
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in self.code.modules:
                return  # os.replace, dataclasses.replace: not templating
            arguments = node.args[1:2] if node.func.attr == "replace" else [*node.args, *(k.value for k in node.keywords)]
            for argument in arguments:
                if not self.safe(argument):
                    self.offend(node, f"templates {ast.unparse(argument)} into text with .{node.func.attr}()")
        elif isinstance(node, ast.AnnAssign) and _is_type(node.annotation) and node.value is not None and not self.safe(node.value):
            self.offend(node, f"declares {ast.unparse(node.value)} a {TYPE}")
        elif isinstance(node, ast.Call):
            function = node.func
            name = function.id if isinstance(function, ast.Name) else function.attr if isinstance(function, ast.Attribute) else ""
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) and function.value.id in self.code.modules:
                return  # np.where: a function of another library
            for index, parameter in self.code.parameters.get(name, []):
                given = [k.value for k in node.keywords if k.arg == parameter] or (node.args[index : index + 1] if index >= 0 else [])
                for argument in given:
                    if not isinstance(argument, ast.Starred) and not self.safe(argument):
                        self.offend(node, f"passes {ast.unparse(argument)} as the {TYPE} {parameter} of {name}")


def _text(node: ast.AST) -> str:
    """The constant text of a string expression (an f-string's literal parts, a concatenation's constants)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(_text(value) for value in node.values if isinstance(value, ast.Constant))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + " " + _text(node.right)
    return ""


def _summands(node: ast.expr) -> Iterator[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield from _summands(node.left)
        yield from _summands(node.right)
    else:
        yield node


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[0] == "adapters":
        parts = parts[parts.index("dbt") :]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def offences(sources: dict[str, str]) -> tuple[list[str], set[tuple[str, str]]]:
    """The offences of the sources (module name -> source text), and the TRUSTED functions met."""
    trees = {module: ast.parse(text) for module, text in sources.items()}
    code = Codebase.of(trees)
    found, trusted = [], set()
    for module, tree in trees.items():
        scan = Scan(code, module, PATHS.get(module, module))
        scan.visit(tree)
        found += scan.offences
        trusted |= scan.trusted
    return found, trusted


PATHS = {_module_name(path): str(path.relative_to(REPO)) for path in SOURCES}


def test_sql_text_holds_only_sql_names_constants_and_placeholders() -> None:
    found, trusted = offences({_module_name(path): path.read_text() for path in SOURCES})
    assert trusted == set(TRUSTED), "a TRUSTED function no longer builds SQL: remove it from TRUSTED"
    assert not found, f"SQL built from values; bind them as parameters, or make names {TYPE}s (quote_identifier):\n" + "\n".join(found)


PLANTED = """
from trainer.store.connection import SqlName, qualified_name, quote_identifier

DDL = "CREATE TABLE IF NOT EXISTS {table} (id String) ENGINE = MergeTree ORDER BY id"


def table_of(database: str) -> SqlName:
    return qualified_name(database, "t")


def count(client, database: str, table: SqlName, day: str) -> int:
    return client.command(f"SELECT count() FROM {table} WHERE day = {{day:Date}}", parameters={"day": day})


def planted(client, database: str, table: str, column: str, day: str) -> None:
    safe = qualified_name(database, table)
    client.command(f"SELECT count() FROM {safe} WHERE {quote_identifier(column)} = {{day:Date}}", parameters={"day": day})
    client.command(DDL.format(table=safe))
    count(client, database, table_of(database), day)
    client.command(f"SELECT count() FROM {safe} WHERE day = '{day}'")  # 1: a value in the text
    client.command(DDL.format(table=table))  # 2: .format() of a str
    client.command("SELECT * FROM {table}".replace("{table}", f"{database}.{table}"))  # 3: .replace() of a str
    client.command("SELECT * FROM " + table)  # 4: concatenation
    client.command("SELECT * FROM %s" % table)  # 5: % formatting
    count(client, database, table, day)  # 6: a str where a SqlName is declared
    name: SqlName = column  # 7: a str declared a SqlName
    joined = ", ".join(column for _ in range(2))
    client.command(f"SELECT {joined} FROM {safe}")  # 8: a str through a local
    client.insert(f"{database}.events", [["a"]], column_names=["id"])  # 9: a table name built from a str


def wrongly_typed(table: str) -> SqlName:
    return SqlName(table)  # 10: a str returned as a SqlName
"""


def test_the_scan_finds_planted_unsafe_sql() -> None:
    """Each marked line of the planted module is an offence, and none of the safe ones is."""
    connection = REPO / "trainer" / "store" / "connection.py"
    found, _ = offences({"trainer.store.connection": connection.read_text(), "planted": PLANTED})
    lines = PLANTED.splitlines()
    marked = sorted(number + 1 for number, line in enumerate(lines) if re.search(r"# \d+:", line))
    offending = sorted({int(offence.split(":")[1].split()[0]) for offence in found})
    assert len(marked) == 10 and offending == marked, found


@pytest.mark.parametrize("name", ["alerts\n", "a`b", "x; DROP TABLE y", "", "1st", "db.table"])
def test_quote_identifier_refuses_what_is_not_a_name(name: str) -> None:
    with pytest.raises(PipelineError, match="not a valid identifier"):
        quote_identifier(name)


def test_types_and_placeholders_are_checked_too() -> None:
    assert sql_type("DateTime64(3, 'UTC')") == "DateTime64(3, 'UTC')" and placeholder("day", "Date") == "{day:Date}"
    assert isinstance(qualified_name("aml", "trained_models"), SqlName) and name_list(["a", "b"]) == "`a`, `b`"
    for bad in ("String) ; DROP TABLE t --", "String\n", "Nullable(String')"):
        with pytest.raises(PipelineError, match="not a supported column type"):
            sql_type(bad)
    with pytest.raises(PipelineError):
        placeholder("day}", "Date")


def test_the_scan_reaches_every_stage_package() -> None:
    trainer = REPO / "trainer"
    packages = {path.relative_to(trainer).parts[0] for path in SOURCES if path.is_relative_to(trainer) and path.parent != trainer}
    on_disk = {path.name for path in trainer.iterdir() if (path / "__init__.py").is_file()}
    assert packages == on_disk and {"store", "ingest", "train", "score", "registry"} <= packages, packages
