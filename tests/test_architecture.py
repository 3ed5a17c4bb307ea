"""The import graph of engine/ and gui/, read with ast (no module is imported, no Qt is needed).

Every import counts, including the ones inside functions: a function-level import defers the cost of loading a
module, it does not remove the dependency, and it is the usual way an import circle is hidden. The one exception
is an import under ``if TYPE_CHECKING:``, which never runs (engine/io/provenance.py names CRFParams that way, for
an annotation only).

Edges: ``import a.b`` is an edge to a.b; ``from a import b`` is an edge to a.b when a/b.py (or a/b/) exists, else
to a; relative imports are resolved against the importing module. Only modules of engine/ and gui/ are nodes.
Importing a.b.c also runs a/__init__.py and a/b/__init__.py, so an edge to a.b.c is also an edge to a and to a.b
(when that __init__ imports anything of ours). Not to the importer's own enclosing packages: those are being
imported already when it runs, and counting them would make every ``from .x import y`` in a package's __init__ a
circle with its own submodule; an import that names the enclosing package itself (``from gui.tools import
EditTool`` in gui/tools/superpixel.py) is an edge like any other. The parent edges matter: engine/crf/fast/session.py
once imported engine.crf.interactive.compact inside a function, which runs engine/crf/interactive/__init__.py,
which loads refiner.py, which imports engine.crf.fast: a circle that no single file shows.
"""
from __future__ import annotations

import ast
from functools import cache
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "gui")


# --- the graph ---------------------------------------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every .py under engine/ and gui/."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_package(name: str) -> bool:
    return _modules()[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from X import ...`` names (X resolved when relative)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(name: str) -> str | None:
    """The longest prefix of a dotted name that is a module of ours, or None (third party, stdlib)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in _modules():
            return candidate
        parts.pop()
    return None


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


@cache
def imports_of(module: str) -> tuple[tuple[str, int], ...]:
    """(imported name, absolute and dotted; line) for every import in the module, at any depth. ``from X import y``
    gives X.y when that is a module of ours or X is not ours (PySide6.QtWidgets), else X."""
    path = _modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in _modules() or _owner(target) is None else target, node.lineno))
    return tuple(found)


def _imports_ours(module: str) -> bool:
    """Whether the module imports any module of ours (an empty package __init__ carries no dependency)."""
    return any(_owner(name) is not None for name, _ in imports_of(module))


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {module of ours it imports: first line}, plus the parent packages the import runs (not the
    importer's own: an explicit import of its own package, ``from gui.tools import EditTool``, does count);
    self-edges dropped."""
    edges: dict[str, dict[str, int]] = {}
    for module in _modules():
        out: dict[str, int] = {}
        for name, line in imports_of(module):
            target = _owner(name)
            if target is None:
                continue
            if target != module:
                out.setdefault(target, line)
            parts = target.split(".")
            for i in range(1, len(parts)):   # the parent packages the import runs, not the importer's own
                step = ".".join(parts[:i])
                if step in _modules() and not _in(module, step) and _imports_ours(step):
                    out.setdefault(step, line)
        edges[module] = out
    return edges


def find_cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a list of names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # iterative, so a deep graph cannot hit the recursion limit
        work = [(v, iter(sorted(edges.get(v, ()))))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _describe_cycle(edges: dict[str, dict[str, int]], comp: list[str]) -> str:
    """The shortest circle through the component's first module, with the line of each import."""
    members, start = set(comp), comp[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier and start not in came_from:   # breadth first, so the circle shown is a shortest one
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(edges[node]):
                if nxt in members and nxt not in came_from:
                    came_from[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    path = [start]
    while len(path) == 1 or path[-1] != start:
        path.append(came_from[path[-1]])
    path.reverse()
    steps = [f"{a} (line {edges[a][b]}) -> {b}" for a, b in pairwise(path)]
    return f"circle among {comp}: " + "; ".join(steps)


def _subgraph(package: str | None) -> dict[str, dict[str, int]]:
    """The graph restricted to one package's modules (None: all of engine/ and gui/)."""
    keep = (lambda m: True) if package is None else (lambda m: _in(m, package))
    return {m: {t: line for t, line in out.items() if keep(t)} for m, out in graph().items() if keep(m)}


def _cycle_report(package: str | None) -> list[str]:
    edges = _subgraph(package)
    return [_describe_cycle(edges, comp) for comp in find_cycles(edges)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# --- engine/ -----------------------------------------------------------------------------------------------------

def test_the_graph_sees_function_level_imports_and_the_packages_they_run():
    """Guards the tool itself: engine/cli/export.py imports its work inside main(); importing engine.crf.params
    runs engine/crf/__init__.py; an import under TYPE_CHECKING is no edge."""
    assert {"engine.folder.dataset", "engine.io.dataset_export"} <= set(graph()["engine.cli.export"])
    assert {"engine.crf", "engine.crf.params"} <= set(graph()["engine.learn.crf_search"])
    assert not any(_in(t, "engine.crf") for t in graph()["engine.io.provenance"])


def test_find_cycles():
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"e2": 1}, "e2": {"e": 1}}
    assert sorted(find_cycles(edges)) == [["a", "b", "c"], ["e", "e2"]]
    assert _describe_cycle(edges, ["a", "b", "c"]) == \
        "circle among ['a', 'b', 'c']: a (line 1) -> b; b (line 1) -> c; c (line 1) -> a"
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def test_engine_imports_no_qt_and_no_gui():
    bad = [f"{m} line {line}: {name}" for m in _modules() if _in(m, "engine")
           for name, line in imports_of(m)
           if name.split(".")[0] in ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "shiboken2", "gui")]
    assert not bad, "engine/ must stay Qt-free and must not import gui/:\n" + "\n".join(bad)


def test_no_import_cycles_in_engine():
    cycles = _cycle_report("engine")
    assert not cycles, "import circles in engine/:\n" + "\n".join(cycles)


# Layers of engine/, lowest first. A module may import anything in its own package, any package of a lower layer,
# and the same-layer packages SIBLINGS lists for its package; never a higher layer. A module or package not named
# here belongs to its nearest named parent ("engine.crf.fast" is in engine.crf's layer); the longest name wins
# ("engine.eval.voc" is not in engine.eval's layer). Derived from the code, not wished for: a new edge that breaks it
# is either a mistake or a reason to change this table, in review.
LAYERS: tuple[tuple[str, ...], ...] = (
    # 0. ground floor: error types, size limits, file locations, class lists, pure numpy helpers, and the
    #    terminal conventions every subcommand shares (version, parsers, progress)
    ("engine.errors", "engine.limits", "engine.paths", "engine.labels", "engine.uncertainty", "engine.boxes",
     "engine.console"),
    # 1. files: images, label PNGs, provenance sidecars, exports, atomic writes
    ("engine.io",),
    # 2. the parts: one open image (annotate), how it is drawn (display), the CRF, the networks and their files,
    #    scores (eval.metrics), a folder's settings (project) and its images (folder)
    ("engine.annotate", "engine.display", "engine.crf", "engine.models", "engine.checkpoints", "engine.eval",
     "engine.project", "engine.folder"),
    # 3. what runs the parts together: prediction, learning from labels, batch runs, the demo recipe, and the VOC
    #    evaluation (it runs a Predictor)
    ("engine.predict", "engine.learn", "engine.batch", "engine.demo", "engine.eval.voc"),
    # 4. command lines, and engine/__init__.py
    ("engine.cli", "engine"),
)

# Allowed imports between packages of one layer (importer -> imported), each with the reason. Together with the
# circle test this keeps every layer's packages in a fixed order.
SIBLINGS: dict[str, tuple[str, ...]] = {
    "engine.limits": ("engine.errors",),                  # limits raise EngineError
    "engine.labels": ("engine.errors", "engine.paths"),   # class lists: EngineError, the bundled lists' folder
    "engine.crf": ("engine.models",),                     # the fast CRF picks its torch device (models.device)
    "engine.checkpoints": ("engine.models",),             # checkpoints build the networks they hold
    "engine.annotate": ("engine.crf",),                   # crf.base.labels_from_probs, the CRF's own argmax
    "engine.project": ("engine.crf",),                    # project.json stores CRF settings as CRFParams
    "engine.folder": ("engine.project", "engine.annotate"),  # a folder's class list; each image's Status
    "engine.learn": ("engine.predict",),                  # fine-tuning and CRF search predict with the network
    "engine.batch": ("engine.predict",),                  # batch runs predict
    "engine.demo": ("engine.predict", "engine.learn"),    # the demo trains (learn.augment) and scores (predict)
    "engine.eval.voc": ("engine.predict",),               # the VOC benchmark predicts
}


def _layer_package(module: str) -> tuple[int, str]:
    """(layer number, the named package the module belongs to)."""
    best = None
    for level, names in enumerate(LAYERS):
        for name in names:
            if name == "engine" and module != "engine":
                continue
            if _in(module, name) and (best is None or len(name) > len(best[1])):
                best = (level, name)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py"
    return best


def layering_violations() -> list[str]:
    bad = []
    for module, out in sorted(graph().items()):
        if not _in(module, "engine"):
            continue
        level, package = _layer_package(module)
        for target, line in sorted(out.items()):
            if not _in(target, "engine"):
                continue   # engine/ -> gui/ is test_engine_imports_no_qt_and_no_gui's
            t_level, t_package = _layer_package(target)
            if t_package == package or t_level < level:
                continue
            if t_level == level and t_package in SIBLINGS.get(package, ()):
                continue
            where = "above" if t_level > level else "beside"
            bad.append(f"{module} (line {line}, layer {level} {package}) imports {target} "
                       f"(layer {t_level} {t_package}, {where} it)")
    return bad


def test_engine_layering():
    bad = layering_violations()
    assert not bad, "engine/ imports against the layering (see LAYERS / SIBLINGS):\n" + "\n".join(bad)


def test_every_engine_module_has_a_layer_and_siblings_share_one():
    for module in _modules():
        if _in(module, "engine"):
            _layer_package(module)
    named = {name: level for level, names in enumerate(LAYERS) for name in names}
    for package, allowed in SIBLINGS.items():
        assert all(named.get(p) == named[package] for p in allowed), f"SIBLINGS[{package!r}]: not one layer"


# --- engine/ and gui/ together, and gui/ ----------------------------------------------------------------------------

def test_no_import_cycles_through_engine():
    """No circle that involves a module of engine/, counting gui/'s imports too (gui/ -> engine/ is allowed, so a
    circle would need engine/ to import gui/, which test_engine_imports_no_qt_and_no_gui also forbids)."""
    cycles = [_describe_cycle(_subgraph(None), comp) for comp in find_cycles(_subgraph(None))
              if any(_in(m, "engine") for m in comp)]
    assert not cycles, "import circles through engine/:\n" + "\n".join(cycles)


def test_no_import_cycles_in_gui():
    cycles = _cycle_report("gui")
    assert not cycles, "import circles in gui/:\n" + "\n".join(cycles)


# gui/ by role, lowest first: a package imports only packages of lower layers (never one beside or above it).
# boot runs before the window exists; session is the widget-free session (QObjects, lanes, the open image); canvas
# and dialogs show what the session holds; tools, panels, menus and window bind them to the session; main_window
# assembles them; app starts it all.
GUI_LAYERS = (
    ("gui.boot", "gui.session"),
    ("gui.canvas", "gui.dialogs"),
    ("gui.tools", "gui.panels", "gui.menus", "gui.window"),
    ("gui.main_window",),
    ("gui.app",),
)


def _gui_layer(module: str) -> tuple[int, str] | None:
    for level, packages in enumerate(GUI_LAYERS):
        for package in packages:
            if _in(module, package):
                return level, package
    return None


def gui_layering_violations() -> list[str]:
    bad = []
    for module, out in sorted(graph().items()):
        here = _gui_layer(module)
        if here is None:
            continue
        for target, line in sorted(out.items()):
            there = _gui_layer(target)
            if there is not None and there[1] != here[1] and there[0] >= here[0]:
                bad.append(f"{module} line {line} imports {target} (layer {there[0]}, not below {here[0]})")
    return bad


def test_gui_layering():
    bad = gui_layering_violations()
    assert not bad, "gui/ imports sideways or up:\n" + "\n".join(bad)


def test_every_gui_module_has_a_layer():
    missing = [m for m in _modules() if _in(m, "gui") and m != "gui" and _gui_layer(m) is None]
    assert not missing, f"gui modules outside GUI_LAYERS: {missing}"
