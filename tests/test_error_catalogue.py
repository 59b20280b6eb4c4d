"""Every error and warning the code can raise is in the catalogue, and README's Troubleshooting is the catalogue."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.error_catalogue import ERRORS, WARNINGS, troubleshooting_markdown
from pipeline.core.errors import PipelineError, run_main, warn

ROOT = Path(__file__).resolve().parents[1]
# call name -> (which positional argument is the code, which catalogue it must be in)
CODE_ARGUMENT = {"PipelineError": (0, ERRORS), "warn": (0, WARNINGS), "Problem": (1, {**ERRORS, **WARNINGS})}


def codes_in_source() -> list[tuple[str, str | None, str]]:
    """(call, code, file:line) for every PipelineError/warn/Problem call in pipeline/.

    A code is a string literal, or `<problem>.code` forwarding a Problem's code (None here).
    """
    found = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name = getattr(getattr(node, "func", None), "id", getattr(getattr(node, "func", None), "attr", None))
            if not isinstance(node, ast.Call) or name not in CODE_ARGUMENT:
                continue
            argument = node.args[CODE_ARGUMENT[name][0]]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(argument, ast.Attribute) and argument.attr == "code":
                found.append((name, None, where))
            else:
                assert isinstance(argument, ast.Constant), f"{where}: {name} needs a literal code"
                found.append((name, argument.value, where))
    return found


def test_every_raised_code_is_catalogued_with_a_literal_code():
    for name, code, where in codes_in_source():
        _, catalogue = CODE_ARGUMENT[name]
        assert code is None or code in catalogue, f"{where}: {name}({code!r}, ...) is not in pipeline/core/error_catalogue.py"


def test_every_catalogued_code_is_raised_somewhere():
    used = {code for _, code, _ in codes_in_source()}
    assert set(ERRORS) - used == set(), "catalogued errors no code raises"
    assert set(WARNINGS) - used == set(), "catalogued warnings no code prints"


def test_readme_troubleshooting_is_the_catalogue():
    readme = (ROOT / "README.md").read_text()
    assert "## Troubleshooting" in readme
    assert troubleshooting_markdown() in readme, "run `python -m pipeline.core.error_catalogue --write` to update README.md"


def test_unknown_codes_are_refused():
    with pytest.raises(ValueError):
        PipelineError("no-such-code", "what", "where", "fix")
    with pytest.raises(ValueError):
        warn("no-such-code", "message")


def test_run_main_prints_one_line_with_the_code_and_exits_2(capsys):
    def failing():
        raise PipelineError("data-file-missing", "data file 'x.csv' not found", "data.path", "set -S data.path=...")

    with pytest.raises(SystemExit) as exit_info:
        run_main(failing)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("error[data-file-missing]: data file 'x.csv' not found [data.path] "
                                       "-> fix: set -S data.path=...\n")


def test_write_failure_becomes_one_line(tmp_path):
    """A real file-size limit (RLIMIT_FSIZE) makes the write fail like a full disk would."""
    script = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "from pipeline.core.atomic import write_text\n"
        "from pipeline.core.errors import run_main\n"
        f"run_main(lambda: write_text({str(tmp_path / 'out.txt')!r}, 'x' * 100_000))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error[disk-write-failed]: could not write: File too large")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # the temporary file was removed, no out.txt
