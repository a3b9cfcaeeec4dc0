"""The layout's rules: what `docexit run` imports, who imports the command-line package, and the
shipped sample pages (docs/design.md, "Layout")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from docexit.pipeline import defaults

ROOT = Path(__file__).resolve().parents[1]
#: Top-level folders mapped to `docexit.<folder>` (pyproject.toml's package-dir).
PACKAGES = ("pipeline", "transforms", "models", "corpus", "benchmarks")
#: What `docexit run` must never load: the page generator, the benchmarks and the study.
NOT_IN_RUN = ("docexit.corpus", "docexit.benchmarks")


def module_name(path: Path) -> str:
    """`models/training/trainer.py` -> `docexit.models.training.trainer`."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("docexit", *parts))


def package_modules() -> dict[str, Path]:
    """Every module of the `docexit` packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imported_names(path: Path) -> set[str]:
    """Every `docexit.*` module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("docexit.")}


def reachable_from(start: str, modules: dict[str, Path]) -> set[str]:
    """Modules reachable from `start` through any import, lazy ones included."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in modules:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:i]) for i in range(2, name.count(".") + 1)]
        todo.extend(parents)
        todo.extend(imported_names(modules[name]))
    return seen


def is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_docexit_run_loads_no_generator_or_benchmark_module() -> None:
    """Importing what `docexit run` runs (the pipeline, every transform, the inference-time
    models) in a fresh interpreter leaves `docexit.corpus` and `docexit.benchmarks` out."""
    runtime = [
        name
        for name in package_modules()
        if is_under(name, "docexit.transforms")
        or (is_under(name, "docexit.models") and not is_under(name, "docexit.models.training"))
    ]
    code = (
        "import importlib, json, sys\n"
        "from docexit.pipeline.cli import SUBCOMMANDS\n"
        "importlib.import_module(SUBCOMMANDS['run'][0])\n"
        f"for name in {runtime!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('docexit'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "docexit.pipeline.run" in loaded and "docexit.models.engine" in loaded
    assert [m for m in loaded if any(is_under(m, p) for p in NOT_IN_RUN)] == []


def test_docexit_run_reaches_no_generator_or_benchmark_module_lazily() -> None:
    """The same through every import, the ones inside functions too (the subprocess check only
    sees what is imported up front)."""
    modules = package_modules()
    reached = reachable_from("docexit.pipeline.run", modules)
    assert "docexit.transforms.ocr" in reached and "docexit.models.checkpoint" in reached
    assert sorted(m for m in reached if any(is_under(m, p) for p in NOT_IN_RUN)) == []


def test_no_library_module_imports_the_command_line_package() -> None:
    """Only `pipeline/cli/` (and tests) import `docexit.pipeline.cli`."""
    library = ("docexit.models", "docexit.transforms", "docexit.pipeline")
    offenders = {
        name: sorted(n for n in imported_names(path) if is_under(n, "docexit.pipeline.cli"))
        for name, path in package_modules().items()
        if any(is_under(name, p) for p in library) and not is_under(name, "docexit.pipeline.cli")
    }
    assert {name: cli for name, cli in offenders.items() if cli} == {}


def test_shipped_sample_pages_are_what_the_generator_makes(tmp_path: Path) -> None:
    """`pipeline/samples/` byte for byte equals a fresh generation (`make samples` rewrites it)."""
    from docexit.corpus.synth import write_corpus

    write_corpus(
        tmp_path,
        per_class=defaults.SAMPLES_PER_CLASS,
        seed=defaults.SAMPLES_SEED,
        unit=defaults.SAMPLES_UNIT,
    )
    shipped = defaults.samples_dir()

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    fresh, ours = files(tmp_path), files(shipped)
    assert sorted(ours) == sorted(fresh), "run `make samples`"
    assert [name for name in fresh if fresh[name] != ours[name]] == [], "run `make samples`"
    assert len(defaults.sample_inputs()) == 1


def test_design_doc_and_readme_name_every_package_and_only_files_that_exist() -> None:
    """docs/design.md and the README's folder table list every package; every `folder/x.py`
    design.md cites exists."""
    import re

    design = (ROOT / "docs" / "design.md").read_text()
    readme = (ROOT / "README.md").read_text()
    packages = sorted(
        str(init.parent.relative_to(ROOT))
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
    )
    assert "models/policies" in packages
    for doc, text in (("design.md", design), ("README.md", readme)):
        assert [p for p in packages if f"`{p}/`" not in text] == [], doc
    cited = set(
        re.findall(r"`((?:pipeline|transforms|models|corpus|benchmarks)/[\w/]+\.py)`", design)
    )
    assert cited and sorted(c for c in cited if not (ROOT / c).is_file()) == []


MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60


def test_no_file_over_600_lines_and_no_function_over_60_outside_tests() -> None:
    """Small modules with one job: every library file and function stays under the limits."""
    too_long = []
    for name, path in package_modules().items():
        source = path.read_text()
        if source.count("\n") > MAX_FILE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {lines} lines")
    assert not too_long, "over the size limits:\n" + "\n".join(too_long)
