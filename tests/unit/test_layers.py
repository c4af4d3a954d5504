"""The layers of `gateway/`, held by a walk of its imports (every `import` statement, in functions too).

- `gateway.domain` imports nothing of ours but itself (pure rules: no Flask, no SQLAlchemy);
- `gateway.storage` imports neither Flask nor `gateway.web` nor `gateway.observability` (it hands events to
  listeners instead);
- no module imports, directly or through others, one that imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module of `gateway` → the modules it imports (ours by name, others by their top-level name)."""
    graph: dict[str, set[str]] = {}
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:  # `from . import x` names a module when x is one
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in modules else base)
        graph[name] = found
    return graph


def ours(graph: dict[str, set[str]], name: str) -> set[str]:
    return {target for target in graph[name] if target.startswith("gateway") and target != name}


def test_the_domain_imports_only_itself() -> None:
    graph = imports()
    for name in (n for n in graph if n.startswith("gateway.domain")):
        outside = {t for t in graph[name] if not t.startswith("gateway.domain")} - {"__future__"}
        third_party = {t for t in outside if not t.startswith("gateway")}
        assert not {t for t in outside if t.startswith("gateway")}, (name, outside)
        assert not {t.split(".")[0] for t in third_party} & {"flask", "sqlalchemy", "werkzeug"}, (name, third_party)


def test_storage_imports_no_flask_no_web_and_no_observability() -> None:
    graph = imports()
    for name in (n for n in graph if n.startswith("gateway.storage")):
        bad = {t for t in graph[name] if t.split(".")[0] in ("flask", "werkzeug", "flask_limiter")
               or t.startswith(("gateway.web", "gateway.observability"))}
        assert not bad, (name, bad)


def test_no_import_cycle_anywhere() -> None:
    """Tarjan's strongly connected components over our own imports: every one must be a single module."""
    walked = imports()
    graph = {name: ours(walked, name) for name in walked}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert cycles == []


def test_the_walk_sees_imports_inside_functions_and_relative_ones() -> None:
    """The walk itself: it finds what the modules say (a walk that finds nothing would pass every test)."""
    graph = imports()
    assert "gateway.storage.driver" in graph["gateway.storage.db"]  # imported inside a property
    assert "gateway.services.codes" in graph["gateway.services.verification"]  # `from . import codes`
    assert "gateway.storage.audit" in graph["gateway.services.verification"]
