"""The shape of the code (issue 31, ../shared/DESIGN.md): no import circle, no module over 450 lines, the API and the
training tasks side by side, and no branch on an edit's name outside dws_edit/edits (the registry says what differs)."""

import ast
import importlib.util
from pathlib import Path

import pytest

from dws_edit.edits import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (
    sorted((ROOT / "dws_edit").rglob("*.py")) + [ROOT / "app.py"] + sorted((ROOT / "nerfstudio_plugin").rglob("*.py"))
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def imports_of(path: Path) -> set[str]:
    """The dws_edit modules ``path`` imports, at any depth of its code (function-level imports count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("dws_edit")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dws_edit"):
            for a in node.names:  # `from dws_edit import io` imports the module dws_edit.io
                out.add(f"{node.module}.{a.name}" if is_module(f"{node.module}.{a.name}") else node.module)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in SOURCES if module_name(p).startswith("dws_edit")}


def test_there_is_no_import_circle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if nxt not in g:
                continue
            assert state.get(nxt) != 1, f"import circle: {' -> '.join(path[path.index(nxt) :] + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])


def test_the_api_and_the_training_tasks_do_not_import_each_other():
    g = graph()
    assert not any(m.startswith("dws_edit.tasks") for m in g["dws_edit.api"]), g["dws_edit.api"]
    for name, imported in g.items():
        if name.startswith("dws_edit.tasks"):
            assert "dws_edit.api" not in imported and "dws_edit" not in imported, name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_450_lines(path):
    assert len(path.read_text().splitlines()) <= 450


def test_no_branch_on_an_edit_name_outside_the_edits_package():
    """A comparison with an edit's name (``name == "remove_part"``, ``n in ("affine", "blend")``) outside
    dws_edit/edits means a property of that edit lives in the wrong place: the registry should say it."""
    names = set(REGISTRY)
    found = []
    for path in SOURCES:
        if "edits" in path.relative_to(ROOT).parts[:2]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                constants = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
                hits = [c for c in constants if isinstance(c, str) and c in names]
                if hits:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {hits}")
    assert not found, found


def test_the_structure_checks_can_fail(tmp_path):
    """The checks above see what they look for (a circle, a name branch) in a file made to have them."""
    bad = tmp_path / "bad.py"
    bad.write_text('from dws_edit import api\nif name == "remove_part":\n    pass\n')
    assert "dws_edit.api" in imports_of(bad)
    tree = ast.parse(bad.read_text())
    assert any(isinstance(n, ast.Compare) and n.comparators[0].value == "remove_part" for n in ast.walk(tree))
