"""Tools that read imports from the filesystem find `docexit.x.y` at `docexit/x/y.py`: the
checked-in `docexit/` folder holds one relative link per top-level package, as pyproject.toml's
`package-dir` maps them. No import machinery is used here: paths, links and ASTs only."""

from __future__ import annotations

import ast
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINKS = ROOT / "docexit"
NOT_SOURCE = {".git", ".venv", "build", "docexit", "out", "data", "__pycache__"}


def package_dirs() -> dict[str, str]:
    """pyproject.toml's `package-dir`: "docexit.<name>" -> top-level folder."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-dir"]


def python_files() -> Iterator[Path]:
    """The repository's Python files, each once (links are not followed)."""
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(d for d in subfolders if d not in NOT_SOURCE)
        yield from (Path(folder) / name for name in sorted(files) if name.endswith(".py"))


def docexit_imports(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module, imported name or None, line) of every absolute `docexit` import in `path`,
    including `importlib.import_module("docexit....")` with a literal name."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("docexit."):
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "docexit" or node.module.startswith("docexit."):
                for alias in node.names:
                    yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("docexit."):
                yield str(arg.value), None, node.lineno


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module"
    )


def module_file(module: str) -> Path | None:
    """The file `module` is read from, found on the filesystem from the repository root."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level (inside `try`/`if` blocks too)."""
    names: set[str] = set()
    statements = list(ast.parse(path.read_text()).body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Try | ast.If):
            handlers = [h.body for h in getattr(node, "handlers", [])]
            for block in (node.body, node.orelse, getattr(node, "finalbody", []), *handlers):
                statements.extend(block)
    return names


def unresolved(module: str, name: str | None) -> str | None:
    """Why `from module import name` (or `import module`) finds no file, or None."""
    if name is not None and module_file(f"{module}.{name}") is not None:
        return None  # a submodule
    path = module_file(module)
    if path is None:
        return f"no {module.replace('.', '/')}.py or {module.replace('.', '/')}/__init__.py"
    if name is not None and name != "*" and name not in top_level_names(path):
        return f"{path.relative_to(ROOT)} defines no {name!r}"
    return None


def test_the_docexit_folder_links_each_mapped_package_to_its_folder() -> None:
    links = {f"docexit.{p.name}": p for p in LINKS.iterdir()}
    assert set(links) == set(package_dirs())
    for name, link in links.items():
        assert link.is_symlink() and not os.path.isabs(os.readlink(link)), link
        assert link.resolve() == (ROOT / package_dirs()[name]).resolve(), link
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package in packages["packages"]:  # every installed package is found through the links
        assert module_file(package) is not None, package


def test_every_docexit_import_in_the_repository_resolves_to_a_file() -> None:
    problems, checked = [], 0
    for path in python_files():
        for module, name, line in docexit_imports(path):
            checked += 1
            why = unresolved(module, name)
            if why:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {module} {name or ''}: {why}")
    assert not problems, "\n".join(problems)
    assert checked > len(list(python_files()))  # the walk found the imports


def test_an_import_that_names_no_file_is_reported() -> None:
    assert unresolved("docexit.models", "engine") is None
    assert unresolved("docexit.models.engine", "EarlyExitEngine") is None
    assert "no docexit/models/nowhere.py" in unresolved("docexit.models.nowhere", None)
    assert "defines no 'Nothing'" in unresolved("docexit.models.engine", "Nothing")
