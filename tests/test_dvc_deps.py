"""dvc.yaml: every stage depends on all the code it runs, and the packages import only downwards."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PIPELINE = ROOT / "pipeline"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# DESIGN.md: each arrow points down only; a package may import those after it in this list, and itself.
ORDER = ["stages", "training", "evaluation", "serving", "tracking", "models", "data", "gpu", "config", "core"]


def module_file(name: str) -> Path | None:
    """The file of a pipeline module (`pipeline.core.paths` -> pipeline/core/paths.py), None if not one."""
    path = ROOT / Path(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_files(path: Path) -> set[Path]:
    """The pipeline modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "pipeline" and (file := module_file(name)):
                found.add(file)
                parent = file.parent  # importing pipeline.a.b runs pipeline/a/__init__.py too
                while parent != PIPELINE:
                    found.add(parent / "__init__.py")
                    parent = parent.parent
    return found


def code_run_by(stage: str) -> set[Path]:
    """Every pipeline file `python -m pipeline.stages.<stage>` can import, transitively."""
    seen, todo = set(), [PIPELINE / "stages" / f"{stage}.py"]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_files(path) - seen)
    return {path for path in seen if path.parent != PIPELINE}  # pipeline/__init__.py is a docstring


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_a_stage_runs_is_a_dependency(stage):
    deps = [ROOT / dep for dep in STAGES[stage]["deps"] if dep.startswith("pipeline")]
    missing = sorted(str(path.relative_to(ROOT)) for path in code_run_by(stage)
                     if not any(path == dep or dep in path.parents for dep in deps))
    assert not missing, f"dvc.yaml stage {stage} lacks deps for {missing}"
    assert STAGES[stage]["cmd"] == f"python -m pipeline.stages.{stage}"


def test_packages_import_only_the_packages_below_them():
    for path in PIPELINE.rglob("*.py"):
        package = path.relative_to(PIPELINE).parts[0]
        if package not in ORDER:
            continue  # the entry points (pipeline/*.py) may import anything
        allowed = set(ORDER[ORDER.index(package):]) - ({"stages"} if package != "stages" else set())
        for imported in imported_files(path):
            target = imported.relative_to(PIPELINE).parts[0]
            assert target in allowed, f"{path.relative_to(ROOT)} imports {imported.relative_to(ROOT)}"


def test_the_entry_points_that_do_not_train_stay_free_of_lightning():
    """`import lightning` takes seconds: plan, advise, sweep, retrain, validate_env, resolve and baseline never load
    it."""
    modules = ["pipeline.plan", "pipeline.advise", "pipeline.retrain", "pipeline.sweep", "pipeline.stages.validate_env",
               "pipeline.stages.resolve", "pipeline.stages.baseline", "pipeline.stages.pretrain"]
    script = (f"import importlib, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] in ('lightning', 'pytorch_lightning')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
