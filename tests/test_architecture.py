"""The shape of the tree, kept true by tests: imports go one way, queries live in repositories."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY_BUILDERS = {"select", "update", "delete", "insert", "text"}
# Where SQL may be written: repositories, model DDL, the data layer itself, migrations.
# repository.py (and <part>_repository.py); models.py: index and constraint DDL
QUERY_HOMES = ("repository.py", "models.py")
QUERY_FOLDERS = (ROOT / "backend" / "db", ROOT / "backend" / "migrations")


def _python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def _imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_backend_imports_neither_portal_nor_workers():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _python_files("backend")
        for module in _imported_modules(ast.parse(path.read_text()))
        if module.split(".")[0] in {"portal", "workers"}
    ]
    assert offenders == []


def test_workers_do_not_import_portal():
    offenders = [
        str(p) for p in _python_files("workers") for m in _imported_modules(ast.parse(p.read_text())) if m.startswith("portal")
    ]
    assert offenders == []


def test_queries_are_written_only_in_repositories():
    offenders = []
    for path in _python_files("backend", "portal", "workers"):
        if path.name.endswith(QUERY_HOMES) or any(folder in path.parents for folder in QUERY_FOLDERS):
            continue
        tree = ast.parse(path.read_text())
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
            for alias in node.names
            if alias.name in QUERY_BUILDERS
        }
        offenders += [f"{path.relative_to(ROOT)} imports {name} from sqlalchemy" for name in imported if name != "text"]
        offenders += [
            f"{path.relative_to(ROOT)}:{node.lineno} builds a raw SQL text"
            for node in ast.walk(tree)
            if "text" in imported and isinstance(node, ast.Call) and getattr(node.func, "id", None) == "text"
        ]
    assert offenders == []
