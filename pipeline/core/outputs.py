"""Read what an earlier stage wrote; a missing file is an error that names the stage to run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from pipeline.core import paths
from pipeline.core.errors import PipelineError


def read_json(path: Path):
    return json.loads(_read(path))


def read_yaml(path: Path):
    return yaml.safe_load(_read(path))


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV with a header, as dicts of strings."""
    return list(csv.DictReader(io.StringIO(_read(path))))


def training_summary() -> dict:
    """models/trained/training.json: train's MLflow run, its rounds and the gate verdict."""
    return read_json(paths.TRAINING_SUMMARY)


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        stage = paths.writer(path)
        fix = f"run the stages up to it: dvc repro {stage}" if stage else "run dvc repro"
        raise PipelineError("output-missing", f"{path} does not exist", str(path), fix) from None
