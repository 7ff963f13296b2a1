"""The imports between fewgen's modules flow one way: no module imports, even inside a function, one that imports
it back (issue 14 found runs <-> report.collect <-> augment.run and select <-> report.plots)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The fewgen modules ``path`` imports anywhere in its body (``from a import b`` counts ``a.b`` if a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def module_graph() -> dict[str, set[str]]:
    """``{module: the fewgen modules it imports}``, a package's own submodules left out of its ``__init__``'s edges
    (importing them to register them is a tree, not a cycle)."""
    paths = {module_name(p): p for p in (SRC / "fewgen").rglob("*.py")}
    graph = {name: imports_of(path, set(paths)) - {name} for name, path in paths.items()}
    return {name: {m for m in imports if not m.startswith(name + ".")} for name, imports in graph.items()}


def package_of(module: str) -> str:
    """``fewgen.students.student`` -> ``fewgen.students``; a top-level module is its own unit."""
    return ".".join(module.split(".")[:2])


def test_the_module_graph_has_no_cycles():
    assert_acyclic(module_graph())


def test_the_package_graph_has_no_cycles():
    """Two modules in two packages can import each other's siblings without a module cycle (students.student ->
    baselines.fixmatch -> students.networks did): the packages must still form layers."""
    graph: dict[str, set[str]] = {}
    for name, imports in module_graph().items():
        graph.setdefault(package_of(name), set()).update(package_of(m) for m in imports)
    assert_acyclic({package: imports - {package} for package, imports in graph.items()})


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    """Fail naming the first cycle found in ``graph``."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_command_line_imports_no_torch_before_a_command_runs():
    """`fewgen --help` once took 3+ s idle (8-9 s on a loaded box): the CLI imported torch, diffusers and umap
    before parsing anything. The app and its help are built from torch-free modules; each command imports what it
    runs."""
    code = ("import sys, fewgen.cli; heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'torchvision', 'diffusers', 'umap', 'sklearn', 'accelerate', 'scipy', 'numpy'}); print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "fewgen", "--help"], capture_output=True, text=True, check=True).stdout
    assert "pretrain" in help_text and "evaluate" in help_text


def test_the_names_shown_in_help_are_the_registries():
    from fewgen.backbones import BACKBONES
    from fewgen.configs import BACKBONE_NAMES, SWEEPABLE_BACKBONES

    assert BACKBONE_NAMES == tuple(sorted(BACKBONES))
    assert SWEEPABLE_BACKBONES == tuple(name for name, cls in sorted(BACKBONES.items()) if hasattr(cls, "block_dims"))


# What the report may import: result rows, and the plumbing that reads a run folder (no data, backbone, feature
# extraction, head or command), so that it reads what runs wrote and nothing else.
REPORT_MAY_IMPORT = {"fewgen", "fewgen.results", "fewgen.chooser", "fewgen.atomic", "fewgen.errors", "fewgen.stats", "fewgen.feature_spec",
                     "fewgen.feature_files", "fewgen.configs", "fewgen.rundir"}


def test_the_report_imports_nothing_of_the_pipeline_but_result_rows():
    paths = {module_name(p): p for p in (SRC / "fewgen").rglob("*.py")}
    for name, path in paths.items():
        if name.startswith("fewgen.report"):
            outside = {m for m in imports_of(path, set(paths)) if not m.startswith("fewgen.report")} - REPORT_MAY_IMPORT
            assert not outside, f"{name} imports {sorted(outside)}"
