"""The import rules of ARCHITECTURE.md, read from the code: K is the front end's only door to the
backends, no framework is imported by the front end, layers never import models, no import circle."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "tensorflow", "cupy", "tf_keras", "keras", "jax")
TOOLS = ("multirnn.bench",)  # the benchmark runs the native frameworks side by side on purpose
K_MODULE = "multirnn.backend"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("backends", "conformance"):
        parts = ["multirnn"] + parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict:
    files = [p for folder in ("multirnn", "backends") for p in (ROOT / folder).rglob("*.py")]
    return {_module_name(p): p for p in files}


SOURCES = _sources()


def _imports(name: str, path: pathlib.Path) -> list:
    """Every module `name` imports, at any depth of the file (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append(candidate if candidate in SOURCES else base)
    return found


def _front_end() -> list:
    return [n for n in SOURCES if n.startswith("multirnn") and not n.startswith(("multirnn.backends",))
            and not n.startswith(TOOLS) and n != K_MODULE]


@pytest.mark.parametrize("module", _front_end())
def test_the_front_end_reaches_backends_only_through_K(module):
    imported = _imports(module, SOURCES[module])
    through_backends = [m for m in imported if m == "multirnn.backends" or m.startswith("multirnn.backends.")]
    frameworks = [m for m in imported if m.split(".")[0] in FRAMEWORKS]
    assert not through_backends, f"{module} imports {through_backends}; use `from multirnn import backend as K`"
    assert not frameworks, f"{module} imports {frameworks}; optional frameworks live in backends/frameworks.py"


@pytest.mark.parametrize("module", [n for n in SOURCES if n.startswith("multirnn.layers")])
def test_layers_never_import_models(module):
    models = [m for m in _imports(module, SOURCES[module]) if m.startswith("multirnn.models")]
    assert not models, f"{module} imports {models}: the layers floor stands below the models"


def test_no_import_circle():
    graph = {n: {m for m in _imports(n, p) if m in SOURCES and m != n} for n, p in SOURCES.items()}
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_rules_can_fail():
    """The checks see a forbidden import when there is one (guards against a checker that reads nothing)."""
    assert "multirnn.backends" in _imports(K_MODULE, SOURCES[K_MODULE])
    assert any(m.split(".")[0] == "torch" for m in _imports("multirnn.backends.frameworks",
                                                                SOURCES["multirnn.backends.frameworks"]))


def _uses_torch_distributed(path: pathlib.Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "distributed":
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.startswith("torch.distributed") for n in names):
                return True
    return False


def test_torch_distributed_is_reached_only_through_backends_collectives():
    """Data parallelism (multirnn/distribute) goes through K.collectives, the one module holding the process group."""
    users = sorted(n for n, p in SOURCES.items() if not n.startswith(TOOLS) and _uses_torch_distributed(p))
    assert users == ["multirnn.backends.collectives"], users
