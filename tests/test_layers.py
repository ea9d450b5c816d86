"""The import graph runs one way: fusion (model library) <- tasks (definitions, data) <- training, eval <- the app
<- the benchmarks (bench/). Every import counts, also those inside functions; test support lives in tests/, never in
the product. tests/ may import anything."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"fusion", "tasks", "training", "eval", "layerbridge_app", "app", "tests", "bench"}
# what each layer may import from this project (besides itself)
ALLOWED = {
    "fusion": set(),
    "tasks": {"fusion"},
    "training": {"fusion", "tasks"},
    "eval": {"fusion", "tasks"},
    "layerbridge_app": {"fusion", "tasks", "eval"},
    "app": {"fusion", "tasks", "eval", "layerbridge_app"},
    "bench": {"fusion", "tasks", "training", "eval", "layerbridge_app"},   # measures the product; never part of it
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_packages(path: Path) -> set[str]:
    """Top-level first-party packages `path` imports (relative imports resolve to its own package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(layer_of(path) if node.level else node.module.split(".")[0])
    return found & FIRST_PARTY


MODULES = sorted(p for layer in ALLOWED for p in ([ROOT / f"{layer}.py"] if (ROOT / f"{layer}.py").is_file()
                                                   else (ROOT / layer).rglob("*.py")))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_layer_above_it(path):
    layer = layer_of(path)
    above = imported_packages(path) - ALLOWED[layer] - {layer}
    assert not above, f"{path.relative_to(ROOT)} ({layer}) imports {sorted(above)}, a layer above it"


def test_the_graph_is_checked_at_all():
    assert len(MODULES) > 20
    assert imported_packages(ROOT / "training" / "train.py") >= {"fusion", "tasks"}
    assert "fusion" in imported_packages(ROOT / "fusion" / "model.py")   # relative imports resolve
    assert any(layer_of(p) == "bench" for p in MODULES)                  # the benchmarks are checked too
