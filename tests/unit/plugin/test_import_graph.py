"""The package's imports go one way: its import graph, counting imports inside functions, has no cycle, and no
module of the package imports the pytest entry module (``pytest_oslab.plugin`` only wires; what the others need
of the run is in ``pytest_oslab.stash``)."""
import ast
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parents[3] / "pytest_oslab"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def own_imports(path: Path, me: str, modules: Set[str]) -> Set[str]:
    """The package's modules that ``path`` (module ``me``) imports anywhere in it, at module level or inside a
    function."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = me.split(".") if is_package else me.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            # a package importing its own children is how packages are made, not a cycle
            if name and name != me and not (is_package and name.startswith(me + ".")):
                found.add(name)
    return found


def import_graph() -> Dict[str, Set[str]]:
    files = list(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): own_imports(f, module_name(f), modules) for f in files}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from p.b import thing\n")
    assert own_imports(module, "m", {"p.b", "m"}) == {"p.b"}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50
    assert cycles(graph) == []


def test_no_module_imports_the_entry_module():
    importers = sorted(m for m, targets in import_graph().items() if "pytest_oslab.plugin" in targets)
    assert importers == []
