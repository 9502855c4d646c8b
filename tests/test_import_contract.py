"""The import rules of `docs/DEVELOPING.md`, enforced: which package may import which, the finer
rules (the gateway and API see only `workflows.contract`; workflows reach activities only through
`imports_passed_through`), and no import circles between our modules."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVELOPING = ROOT / "docs" / "DEVELOPING.md"
PACKAGES = (
    "domain runtime store workflows activities gateway api workers ampflow chargers chaos".split()
)
EVERYTHING = frozenset(PACKAGES)
_TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}

# What each package may import of ours (the table in docs/DEVELOPING.md, in code).
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "runtime": frozenset({"domain"}),
    "store": frozenset({"domain"}),
    "workflows": frozenset({"domain", "activities"}),
    "activities": frozenset({"domain", "store", "runtime"}),
    "gateway": frozenset({"domain", "store", "runtime", "workflows"}),
    "api": frozenset({"domain", "store", "runtime", "workflows", "activities"}),
    "workers": frozenset({"domain", "runtime", "store", "workflows", "activities"}),
    "ampflow": EVERYTHING,
    "chargers": frozenset(),
    "chaos": EVERYTHING,
}
# Finer rules: from these packages, only these modules (prefixes) of another package.
ONLY: dict[tuple[str, str], tuple[str, ...]] = {
    ("gateway", "workflows"): ("workflows.contract",),
    ("api", "workflows"): ("workflows.contract",),
    ("api", "activities"): ("activities.payments", "activities.receipts"),
}


@dataclass(frozen=True)
class Arrow:
    """One import of one of our modules by another."""

    source: str
    target: str
    line: int
    passed_through: bool  # inside `with workflow.unsafe.imports_passed_through():`


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _arrows(module: str, path: Path, modules: dict[str, Path]) -> list[Arrow]:
    tree = ast.parse(path.read_text(), str(path))
    arrows: list[Arrow] = []

    def visit(node: ast.AST, passed_through: bool) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING:
            for child in node.orelse:
                visit(child, passed_through)
            return  # type-only imports are no arrows at run time
        if isinstance(node, ast.With) and any(
            "imports_passed_through" in ast.unparse(item.context_expr) for item in node.items
        ):
            passed_through = True
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path, node.module, node.level)
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _resolve(name, modules)
            if target and target != module:
                arrows.append(Arrow(module, target, node.lineno, passed_through))
        for child in ast.iter_child_nodes(node):
            visit(child, passed_through)

    visit(tree, False)
    return arrows


def _absolute(module: str, path: Path, name: str | None, level: int) -> str:
    """`from ..x import y` as an absolute module name."""
    if level == 0:
        return name or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    if not package:
        return name or ""
    return f"{package}.{name}" if name else package


def _all_arrows() -> list[Arrow]:
    modules = _modules()
    return [arrow for m, p in modules.items() for arrow in _arrows(m, p, modules)]


def _violation(arrow: Arrow) -> str | None:
    source_pkg, target_pkg = arrow.source.split(".")[0], arrow.target.split(".")[0]
    if source_pkg == target_pkg:
        return None
    where = f"{arrow.source}:{arrow.line} imports {arrow.target}"
    if target_pkg not in ALLOWED[source_pkg]:
        return f"{where}: {source_pkg}/ may not import {target_pkg}/"
    only = ONLY.get((source_pkg, target_pkg))
    if only and not any(arrow.target == o or arrow.target.startswith(o + ".") for o in only):
        return f"{where}: {source_pkg}/ may import only {', '.join(only)} of {target_pkg}/"
    if (source_pkg, target_pkg) == ("workflows", "activities") and not arrow.passed_through:
        return f"{where}: workflows import activities only inside imports_passed_through()"
    return None


def test_every_arrow_is_allowed_by_the_table():
    violations = [v for arrow in _all_arrows() if (v := _violation(arrow))]
    assert not violations, "\n".join(violations)


def test_no_import_circles_between_our_modules():
    graph: dict[str, set[str]] = {}
    for arrow in _all_arrows():
        graph.setdefault(arrow.source, set()).add(arrow.target)
    circles = _circles(graph)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_every_top_level_package_is_in_the_table_and_the_table_matches():
    documented = _documented_rules()
    on_disk = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in {"tests", "benchmarks"}
    }
    assert on_disk == set(documented), "packages and the DEVELOPING.md table differ"
    for package, allowed in ALLOWED.items():
        assert documented[package] == allowed, f"DEVELOPING.md row of {package}/ differs"


def _documented_rules() -> dict[str, frozenset[str]]:
    """The `may import` column of DEVELOPING.md's table, reduced to our packages."""
    rules: dict[str, frozenset[str]] = {}
    for line in DEVELOPING.read_text().splitlines():
        row = re.match(r"\| `(\w+)/` \|.*\| (.*) \|$", line)
        if not row:
            continue
        package, may_import = row.groups()
        if re.match(r"all\b", may_import):
            rules[package] = EVERYTHING
            continue
        may_import = may_import.split("; never", 1)[0]
        words = set(re.findall(r"[a-z_]+", may_import))
        rules[package] = frozenset(words & EVERYTHING) - {package}
    return rules


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            connect(node)
    return found
