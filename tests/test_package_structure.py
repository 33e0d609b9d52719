"""The shape of the Python package: modules import downward only, the serialization registry
is filled by the modules that define the built-in objects, and few imports hide in functions."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import saving

# ----- the registry of built-in objects


def _exported_classes(module, base):
    """The classes ``module`` exports (``__all__``) that subclass ``base``: the built-in classes
    of a Keras module, as ``saving`` collected them when it imported every module itself."""
    found = {name: getattr(module, name) for name in module.__all__}
    return {name: obj for name, obj in found.items() if inspect.isclass(obj) and issubclass(obj, base)}


def test_builtin_classes_are_the_exported_classes():
    expected = {
        "keras.layers": _exported_classes(fg.layers, fg.layers.Layer),
        "keras": {"Sequential": fg.Sequential, "Model": fg.Model, "Functional": fg.Model},
        "keras.initializers": _exported_classes(fg.initializers, fg.initializers.Initializer),
        "keras.regularizers": _exported_classes(fg.regularizers, fg.regularizers.Regularizer),
        "keras.optimizers": _exported_classes(fg.optimizers, fg.optimizers.Optimizer),
        "keras.optimizers.schedules": _exported_classes(
            fg.optimizers.schedules, fg.optimizers.schedules.LearningRateSchedule
        ),
        "keras.losses": dict(fg.losses._CLASSES),
        "keras.metrics": dict(fg.metrics._CLASSES),
    }
    assert saving._builtin_classes() == expected
    # Internal bases (not exported) stay out, so a config naming them is refused.
    assert "EngineLayer" not in saving._builtin_classes()["keras.layers"]
    assert "BaseConv" not in saving._builtin_classes()["keras.layers"]


def test_builtin_functions_are_the_named_functions():
    expected = {
        "keras.activations": dict(fg.activations._BY_NAME),
        "keras.losses": dict(fg.losses._FUNCTIONS),
        "keras.metrics": dict(fg.metrics._FUNCTIONS),
    }
    assert saving._builtin_functions() == expected
    # A loss function that is also a metric is written under keras.losses, as before.
    assert saving._builtin_module(fg.losses.binary_crossentropy) == "keras.losses"
    assert saving._builtin_module(fg.metrics.binary_accuracy) == "keras.metrics"
    assert saving._builtin_module(fg.activations.relu) == "keras.activations"


def test_a_user_subclass_is_not_builtin():
    class MyDense(fg.layers.Dense):
        pass

    class MyModel(fg.Model):
        pass

    class MyLoss(fg.losses.Loss):
        pass

    for cls in (MyDense, MyModel, MyLoss):
        assert saving._builtin_module(cls) is None
        assert all(cls not in table.values() for table in saving._builtin_classes().values())


def test_only_ferrograd_objects_can_be_registered_as_builtins():
    def my_activation(x):
        return x

    with pytest.raises(ValueError, match="register_serializable"):
        saving.register_builtins("keras.activations", {"my_activation": my_activation})
    assert "my_activation" not in saving._builtin_functions()["keras.activations"]


def test_saving_load_model_uses_the_loader_the_models_package_registered(tmp_path):
    model = fg.Sequential([fg.Input((3,)), fg.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "model.safetensors"
    saving.save_model(model, path)
    loaded = saving.load_model(path)
    assert isinstance(loaded, fg.Sequential)
    x = np.ones((4, 3), dtype="float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ----- imports

PACKAGE = Path(fg.__file__).parent

# The most imports allowed inside functions in the whole package, each with a comment saying why
# (an optional dependency, imported only when used).
MAX_FUNCTION_IMPORTS = 5



def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))}


def _function_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements inside a function (at any depth)."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                found.append(child)
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, False)
    return found


def _has_comment(lines: list[str], lineno: int) -> bool:
    """A ``#`` comment on the import's line or on the line above it."""
    here = lines[lineno - 1]
    above = lines[lineno - 2].strip() if lineno >= 2 else ""
    return "#" in here or above.startswith("#")


def test_few_imports_inside_functions_each_with_a_reason():
    counted, uncommented = [], []
    for _, (path, tree) in _sources().items():
        relative = path.relative_to(PACKAGE).as_posix()
        lines = path.read_text().splitlines()
        for node in _function_imports(tree):
            where = f"{relative}:{node.lineno}: {ast.unparse(node)}"
            counted.append(where)
            if not _has_comment(lines, node.lineno):
                uncommented.append(where)
    listing = "\n".join(counted)
    assert len(counted) <= MAX_FUNCTION_IMPORTS, f"{len(counted)} imports inside functions:\n{listing}"
    assert not uncommented, "imports inside functions need a comment saying why:\n" + "\n".join(uncommented)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import, known: set[str]) -> list[str]:
    """The ferrograd modules an import statement of ``module`` loads (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in known]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target not in known:
        return []
    # `from package import submodule` loads the submodule; `from module import name` the module.
    submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known]
    plain = [alias for alias in node.names if f"{target}.{alias.name}" not in known]
    return submodules + ([target] if plain else [])


def _import_graph() -> dict[str, set[str]]:
    """Module -> the ferrograd modules it imports, at the top or inside a function (an import
    hidden in a function is still an edge: hiding it there is how cycles were held together),
    without a package's imports of its own submodules."""
    sources = _sources()
    known = set(sources)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, (path, tree) in sources.items():
        is_package = path.name == "__init__.py"
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in imports:
            for target in _resolve(name, is_package, node, known):
                if target != name and not (is_package and target.startswith(name + ".")):
                    graph[name].add(target)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_cycle():
    cycle = _find_cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_saving_imports_only_the_engine():
    imported = _import_graph()["ferrograd.saving"]
    assert imported <= {"ferrograd._core"}, f"saving.py must sit below the modules it serializes: {imported}"


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
