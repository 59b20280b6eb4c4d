"""Load labelled text from a configured source into a frame with `text`, `label` (and `split`).

Sources: `packaged` (class folders inside an installed package), `folder` (<class>/*.txt),
`csv`, `jsonl`, `parquet` (local files with column mapping), `hf` (a Hugging Face dataset,
by hub name or local folder). A source that knows its label order (a `ClassLabel`) leaves it in
`frame.attrs["labels"]`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from pipeline.data.split import SPLIT_NAMES
from pipeline.errors import PipelineError

FALLBACK_ENCODING = "cp1252"  # legacy Windows/Latin-1 text, common in older corpora


def load_frame(data: DictConfig) -> pd.DataFrame:
    """Read the source named by `data.source` and return text/label(/split) columns as strings."""
    readers = {"packaged": _read_packaged, "folder": _read_folder_source, "csv": _read_table,
               "jsonl": _read_table, "parquet": _read_table, "hf": _read_hf}
    if data.source not in readers:
        raise PipelineError(
            "config-out-of-range", f"unknown data source '{data.source}'", "data.source",
            f"use one of: {', '.join(readers)}")
    return readers[data.source](data)


def _read_packaged(data: DictConfig) -> pd.DataFrame:
    package, _, inner = data.path.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(
            "data-package-missing", f"package '{package}' is not installed", "data.path",
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
            "data-folder-empty", "no <class>/*.txt files found", str(root),
            "point data.path at a folder with one sub-folder of .txt files per class")
    return pd.DataFrame(rows)


def _read_text(file: Path) -> str:
    raw = file.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(FALLBACK_ENCODING, errors="replace")


def _read_table(data: DictConfig) -> pd.DataFrame:
    """A local csv/jsonl/parquet file, its columns mapped to text/label(/split)."""
    path = _existing(data.path, "data.path")
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    frame = readers[data.source](path, data)
    if frame.empty:
        raise PipelineError("data-file-empty", "data file has no rows", str(path), "add labelled rows")
    return select_columns(frame, data, str(path))


def _read_csv(path: Path, data: DictConfig) -> pd.DataFrame:
    encoding = data.get("encoding") or "utf-8"
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise PipelineError("data-file-empty", "data file is empty", str(path),
                            "give a CSV with a header row and labelled rows") from None
    except UnicodeDecodeError as err:
        raise PipelineError(
            "data-encoding", f"file is not valid {encoding} (byte {err.start})", str(path),
            f"set the encoding, e.g. -S data.encoding={FALLBACK_ENCODING}, or save the file as UTF-8") from None
    except pd.errors.ParserError as err:
        raise PipelineError("data-malformed", f"malformed CSV: {err}".strip(), str(path),
                            "fix that row (quote fields that contain commas or newlines)") from None


def _read_jsonl(path: Path, data: DictConfig) -> pd.DataFrame:
    encoding = data.get("encoding") or "utf-8"
    try:
        return pd.read_json(path, lines=True, dtype=False, encoding=encoding)
    except UnicodeDecodeError as err:
        raise PipelineError("data-encoding", f"file is not valid {encoding} (byte {err.start})", str(path),
                            "save the file as UTF-8 or set -S data.encoding=...") from None
    except ValueError as err:
        raise PipelineError("data-malformed", f"malformed JSON lines: {err}", str(path),
                            "give one JSON object per line, e.g. {\"text\": \"...\", \"label\": \"...\"}") from None


def _read_parquet(path: Path, data: DictConfig) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError) as err:
        raise PipelineError("data-malformed", f"not a readable parquet file: {err}", str(path),
                            "give a parquet file (pandas.DataFrame.to_parquet writes one)") from None


def _read_hf(data: DictConfig) -> pd.DataFrame:
    """A Hugging Face dataset: one split (`data.split`) to split ourselves, or all its splits as they are."""
    import datasets

    try:
        loaded = datasets.load_dataset(data.path, data.get("config_name"), split=data.get("split"),
                                       revision=data.get("revision"))
    except Exception as err:  # hub, network and builder errors have no common base class
        raise PipelineError(
            "data-hub-unavailable", f"could not load dataset '{data.path}': {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
            "data.path", "check the name and data.split; offline, point data.path at a local folder of "
            "csv/jsonl/parquet files, or use data=csv|jsonl|parquet") from None
    parts = {"": loaded} if isinstance(loaded, datasets.Dataset) else dict(loaded)
    if len(parts) == 1:  # one split (asked for, or all a folder of files has): we split it ourselves
        parts = {"": next(iter(parts.values()))}
    frames, labels = [], None
    for split_name, part in parts.items():
        if split_name and split_name.lower() not in SPLIT_NAMES:
            print(f"preprocess: skipping split '{split_name}' of {data.path} (not train/validation/test)")
            continue
        feature = part.features.get(data.label_column)
        frame = select_columns(part.to_pandas(), data, data.path, keep_split=False)
        if isinstance(feature, datasets.ClassLabel):
            labels = feature.names
            frame["label"] = [feature.int2str(int(i)) if int(i) >= 0 else "" for i in frame["label"]]
        frames.append(frame.assign(split=split_name) if split_name else frame)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["labels"] = labels
    return frame


def select_columns(frame: pd.DataFrame, data: DictConfig, where: str, keep_split: bool = True) -> pd.DataFrame:
    """Rename the configured columns to text/label(/split), as strings; missing values become ''."""
    columns = {"text": data.text_column, "label": data.label_column}
    if keep_split and data.get("split_column"):
        columns["split"] = data.split_column
    for role, name in columns.items():
        if name not in frame.columns:
            raise PipelineError(
                "data-column-missing", f"{role} column '{name}' not found (columns: {', '.join(map(str, frame.columns))})",
                f"{where}, data.{role}_column",
                f"set -S data.{role}_column=<one of those columns>")
    picked = frame[list(columns.values())].set_axis(list(columns), axis=1)
    return picked.apply(lambda column: column.map(lambda value: "" if value is None or value != value else str(value)))


def _existing(path: str | None, key: str) -> Path:
    if not path or not Path(path).exists():
        raise PipelineError("data-file-missing", f"data file '{path}' not found", key,
                            f"set -S {key}=<path to your file, relative to the repository root>")
    return Path(path)
