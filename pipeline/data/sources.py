"""Load labelled text from a configured source into a frame with `text`, `label` (and `split`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from pipeline.errors import PipelineError

FALLBACK_ENCODING = "cp1252"  # legacy Windows/Latin-1 text, common in older corpora


def load_frame(data: DictConfig) -> pd.DataFrame:
    """Read the source named by `data.source` and return text/label(/split) columns as strings."""
    readers = {"packaged": _read_packaged, "folder": _read_folder_source, "csv": _read_csv}
    if data.source not in readers:
        raise PipelineError(
            f"unknown data source '{data.source}'", "data.source",
            f"use one of: {', '.join(readers)}")
    return readers[data.source](data)


def _read_packaged(data: DictConfig) -> pd.DataFrame:
    package, _, inner = data.path.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(
            f"package '{package}' is not installed", "data.path",
            f"install it (`pip install {package.replace('_', '-')}`) or run `make run`, which installs it")
    return read_class_folders(Path(spec.submodule_search_locations[0]) / inner)


def _read_folder_source(data: DictConfig) -> pd.DataFrame:
    return read_class_folders(_existing(data.path, "data.path"))


def read_class_folders(root: Path) -> pd.DataFrame:
    """One sub-folder per class, one text file per example (files sorted, so order is stable)."""
    rows = [
        {"text": _read_text(file), "label": folder.name}
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for file in sorted(folder.glob("*.txt"))
    ]
    if not rows:
        raise PipelineError(
            "no <class>/*.txt files found", str(root),
            "point data.path at a folder with one sub-folder of .txt files per class")
    return pd.DataFrame(rows)


def _read_text(file: Path) -> str:
    raw = file.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(FALLBACK_ENCODING, errors="replace")


def _read_csv(data: DictConfig) -> pd.DataFrame:
    path = _existing(data.path, "data.path")
    encoding = data.get("encoding") or "utf-8"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise PipelineError("data file is empty", str(path),
                            "give a CSV with a header row and labelled rows") from None
    except UnicodeDecodeError as err:
        raise PipelineError(
            f"file is not valid {encoding} (byte {err.start})", str(path),
            f"set the encoding, e.g. -S data.encoding={FALLBACK_ENCODING}, or save the file as UTF-8") from None
    except pd.errors.ParserError as err:
        raise PipelineError(f"malformed CSV: {err}".strip(), str(path),
                            "fix that row (quote fields that contain commas or newlines)") from None
    columns = {"text": data.text_column, "label": data.label_column}
    if data.get("split_column"):
        columns["split"] = data.split_column
    for role, name in columns.items():
        if name not in frame.columns:
            raise PipelineError(
                f"{role} column '{name}' not found (columns: {', '.join(map(str, frame.columns))})",
                f"{path}, data.{role}_column",
                f"set -S data.{role}_column=<one of those columns>")
    if frame.empty:
        raise PipelineError("data file has a header but no rows", str(path), "add labelled rows")
    return frame[list(columns.values())].set_axis(list(columns), axis=1)


def _existing(path: str | None, key: str) -> Path:
    if not path or not Path(path).exists():
        raise PipelineError(f"data file '{path}' not found", key,
                            f"set -S {key}=<path to your file, relative to the repository root>")
    return Path(path)
