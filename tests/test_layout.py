"""The walls between the wings of hubstitch/, read from the source with `ast`.

- ``math/`` imports only the standard library, torch, numpy, itself and `hubstitch.errors`;
- no library wing imports a face (``shelf/``, ``demo/``, ``cli/``); the faces may import everything;
- the orchestration (``workflows/``: `fit_from_encoders`, the Ray dispatch) sits above ``data/``, ``translators/``,
  ``engines/`` and the other library wings: none of them imports it, and ``data/`` never reaches into ``engines/``;
- no module imports the package facade (``hubstitch/__init__.py``), the wings depend on each other without a cycle,
  and no two modules import each other at import time;
- every wing is packaged, and the public API imports from ``hubstitch`` without pulling transformers or datasets.

The checker is run on a small tree with planted violations too, so that it is shown to fail when a wall breaks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACES = ("shelf", "demo", "cli")
ORCHESTRATION = "workflows"
MATH_ALLOWED = {"torch", "numpy"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_imports(package: Path) -> dict[str, list[tuple[str, int, bool]]]:
    """{module: [(imported module, line, at import time)]} for every ``.py`` file under `package`.

    ``from X import y`` imports X, and X.y as well where X.y is a module of the package. An import at import time is
    one outside any function (a function-level import runs only when the function is called).
    """
    found: dict[str, list[tuple[str, int, bool]]] = {}
    modules = {_module_name(p, package) for p in package.rglob("*.py")}
    for path in sorted(package.rglob("*.py")):
        name = _module_name(path, package)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        in_function: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                in_function.update(id(child) for child in ast.walk(node) if child is not node)
        imports = []
        for node in ast.walk(tree):
            eager = id(node) not in in_function
            if isinstance(node, ast.Import):
                imports += [(alias.name, node.lineno, eager) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                imports.append((target, node.lineno, eager))
                imports += [(f"{target}.{alias.name}", node.lineno, eager) for alias in node.names
                            if f"{target}.{alias.name}" in modules]
        found[name] = imports
    return found


def wing(module: str) -> str:
    """``hubstitch.translators.fit`` -> ``translators``; a top-level module is a wing of its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph`, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def wall_violations(package: Path) -> list[str]:
    """Every broken wall under `package` (a folder named like the package), one line each."""
    top = package.name
    imports = read_imports(package)
    stdlib = set(sys.stdlib_module_names)
    problems = []
    wing_graph: dict[str, set[str]] = {}
    module_graph: dict[str, set[str]] = {}
    for module, entries in imports.items():
        own = wing(module)
        for target, line, eager in entries:
            root = target.split(".")[0]
            inside = root == top
            if own == "math" and not (root in stdlib or root in MATH_ALLOWED or target.startswith(f"{top}.math")
                                      or target == f"{top}.errors"):
                problems.append(f"{module}:{line} imports {target}: math/ imports only torch, numpy and the stdlib")
            if not inside:
                continue
            if target == top and module != top:
                problems.append(f"{module}:{line} imports the package facade {top}: import the defining module")
                continue
            theirs = wing(target)
            if own not in FACES and module != top and theirs in FACES:
                problems.append(f"{module}:{line} imports {target}: library wings never import {'/, '.join(FACES)}/")
            if own not in (*FACES, ORCHESTRATION) and module != top and theirs == ORCHESTRATION:
                problems.append(f"{module}:{line} imports {target}: only the faces import the orchestration "
                                f"({ORCHESTRATION}/)")
            if own == "data" and theirs == "engines":
                problems.append(f"{module}:{line} imports {target}: data/ never reaches into engines/")
            if module != top and theirs != own:
                wing_graph.setdefault(own, set()).add(theirs)
            parent = module.startswith(target + ".")  # a package is imported before its modules anyway
            if eager and module != top and target != module and not parent and target in imports:
                module_graph.setdefault(module, set()).add(target)
    if cycle := _cycle(wing_graph):
        problems.append(f"wings depend on each other in a cycle: {' -> '.join(w or '(top)' for w in cycle)}")
    if cycle := _cycle(module_graph):
        problems.append(f"modules import each other at import time: {' -> '.join(cycle)}")
    return problems


def test_the_walls_hold():
    assert wall_violations(ROOT / "hubstitch") == []


def test_the_checker_finds_planted_violations(tmp_path):
    pkg = tmp_path / "hubstitch"
    for folder in ("math", "translators", "hub", "shelf", "data", "engines", "workflows"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .translators.fit import fit\n")
    (pkg / "errors.py").write_text("")
    (pkg / "math" / "ok.py").write_text("import math\nimport torch\nfrom ..errors import X\nfrom . import other\n")
    (pkg / "math" / "other.py").write_text("def f():\n    from transformers import AutoModel\n")
    (pkg / "translators" / "fit.py").write_text("from ..hub import client\n\n\ndef g():\n"
                                                "    from ..shelf.models import SHELF\n")
    (pkg / "hub" / "client.py").write_text("from ..translators import fit\nfrom .. import errors\nimport hubstitch\n")
    (pkg / "shelf" / "models.py").write_text("from ..translators.fit import fit\nfrom ..workflows import run\n")
    (pkg / "data" / "workflow.py").write_text("def f():\n    from ..engines.ray import go\n"
                                              "    from ..workflows.fit import fit_from_encoders\n")
    (pkg / "workflows" / "fit.py").write_text("from ..translators import fit\nfrom ..engines import ray\n")
    problems = "\n".join(wall_violations(pkg))
    assert "hubstitch.math.other:2 imports transformers" in problems  # a lazy import counts too
    assert "hubstitch.math.ok" not in problems
    assert "hubstitch.translators.fit:5 imports hubstitch.shelf.models" in problems
    assert "hubstitch.shelf.models" not in problems.replace("imports hubstitch.shelf.models", "")  # faces may import
    assert "hubstitch.hub.client:3 imports the package facade hubstitch" in problems
    assert "hubstitch.data.workflow:2 imports hubstitch.engines.ray: data/ never reaches into engines/" in problems
    assert "hubstitch.data.workflow:3 imports hubstitch.workflows.fit: only the faces import" in problems
    assert not any(p.startswith("hubstitch.workflows.fit:") for p in problems.splitlines())  # it may import both
    assert ("wings depend on each other in a cycle: hub -> translators -> hub" in problems
            or "wings depend on each other in a cycle: translators -> hub -> translators" in problems)
    assert "modules import each other at import time: hubstitch.hub.client -> hubstitch.translators.fit" in problems


def test_every_wing_is_packaged():
    wings = {_module_name(p, ROOT / "hubstitch") for p in (ROOT / "hubstitch").rglob("__init__.py")}
    packaged = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert wings - packaged == set()
    assert packaged - wings == {"hubstitch.model_cards", "hubstitch.demo.assets"}  # data packages, no __init__


def test_public_api_imports_from_the_package_and_lazily():
    code = ("import sys, hubstitch\n"
            "heavy = ('torch', 'transformers', 'datasets', 'gradio', 'lancedb', 'ray')\n"
            "heavy = sorted(m for m in heavy if m in sys.modules)\n"
            "assert not heavy, heavy\n"
            "missing = [n for n in hubstitch.__all__ if getattr(hubstitch, n, None) is None]\n"
            "assert not missing, missing\n"
            "assert 'ray' not in sys.modules, 'the whole public API loaded Ray'\n"
            "print(len(hubstitch.__all__))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 29


def test_no_two_modules_of_a_wing_import_each_other_even_lazily():
    """Function-level imports count here too: pipelines/ once had embedding <-> pipeline (the loader built the
    subclass) and embedding <-> sentence-transformers export (a type hint); a cycle is a missing module boundary."""
    imports = read_imports(ROOT / "hubstitch")
    for wing_name in ("pipelines", "decoders", "workflows", "translators"):
        graph: dict[str, set[str]] = {}
        for module, entries in imports.items():
            if wing(module) != wing_name:
                continue
            for target, _, _ in entries:
                if wing(target) == wing_name and target != module and target in imports and \
                        not module.startswith(target + "."):
                    graph.setdefault(module, set()).add(target)
        assert _cycle(graph) is None, f"{wing_name}/: {' -> '.join(_cycle(graph))}"
