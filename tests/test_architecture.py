"""The layer rules of docs/architecture.md, read from the imports with `ast` (no import runs).

Model, data and estimator modules never import training or the CLI; loading and
evaluation never import the trainer; only the CLI, the public API and scripts do.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "textvae"
TRAINING = {"textvae.training", "textvae.callbacks", "textvae.distribute", "textvae.cli", "textvae.demo"}
# modules allowed to import the trainer: the CLI, the demo it runs, and the public API
MAY_IMPORT_TRAINING = {"textvae", "textvae.cli", "textvae.demo", "textvae.errors", "textvae.training",
                       "textvae.callbacks", "textvae.distribute"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every textvae module `path` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "textvae"}


def test_the_walker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from textvae.training import train\n")
    assert "textvae.training" in imported_modules(source)


def test_only_the_cli_and_the_public_api_import_training():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name in MAY_IMPORT_TRAINING:
            continue
        bad = imported_modules(path) & TRAINING
        if bad:
            offenders[name] = sorted(bad)
    assert offenders == {}


def test_loading_and_evaluation_construct_no_optimizer():
    for name in ("loading.py", "building.py", "rundir.py", "evaluation"):
        paths = [PACKAGE / name] if name.endswith(".py") else sorted((PACKAGE / name).glob("*.py"))
        for path in paths:
            assert "optimizers" not in path.read_text(encoding="utf-8"), path


def test_every_subpackage_is_installed_by_pyproject():
    """A non-editable install (the README's demo command) ships only the listed packages."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
