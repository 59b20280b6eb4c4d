"""Load labelled text from a configured source into a frame with `text`, `label` (and `split`).

Sources: `packaged` (class folders inside an installed package), `folder` (<class>/*.txt),
`csv`, `jsonl`, `parquet` (local files with column mapping), `hf` (a Hugging Face dataset,
by hub name or local folder). A source that knows its label order (a `ClassLabel`, or a
`Sequence(ClassLabel)` of label sets) leaves it in `frame.attrs["labels"]`. For task=multi_label a
row's `label` is its label set, joined as data.label_sets reads it (a cell joined by
data.label_separator, or a list).

A file that cannot be read is a PipelineError naming its line. Rows with an empty text or no
label are one too, listing their lines, unless `data.drop_incomplete` (clean() then drops them).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from pipeline.core.errors import PipelineError
from pipeline.data.clean import incomplete
from pipeline.data.label_sets import empty_sets_allowed, label_set, separator
from pipeline.data.normalise import PAIR
from pipeline.data.split import SPLIT_NAMES, canonical_splits, preview

LEGACY_ENCODING = "cp1252"  # legacy Windows/Latin-1 text, common in older corpora: what errors suggest
CSV_FIX = "quote the fields of that row that hold commas, quotes or newlines"
JSONL_FIX = 'give one JSON object per line, e.g. {"text": "...", "label": "..."}'


def load_frame(data: DictConfig, multi_label: bool = False) -> pd.DataFrame:
    """Read the source named by `data.source` (one pipeline/config/schema.py allows) and return text/label
    (/text_pair)(/split) columns as strings; for `multi_label`, a label is a row's joined label set."""
    if data.source in ("packaged", "folder"):
        frame = _read_folder(data)
    else:
        frame = (_read_hf if data.source == "hf" else _read_table)(data, multi_label)
    rows = np.flatnonzero(incomplete(frame, empty_label_ok=empty_sets_allowed(data, multi_label)))
    if len(rows) and not data.get("drop_incomplete"):
        have = "row has" if len(rows) == 1 else "rows have"
        texts = "an empty text or pair text" if PAIR in frame else "an empty text"
        fix = "fill in or remove those rows, or -S data.drop_incomplete=true to drop them"
        if multi_label:
            fix += ", or -S data.allow_empty_labels=true where no label means none of these"
        raise PipelineError(
            "data-incomplete-rows", f"{len(rows)} {have} {texts} or no label ({_locate_rows(data, rows)})",
            str(data.path), fix)
    return frame


def _locate_rows(data: DictConfig, rows: Sequence[int]) -> str:
    """Where rows of the loaded frame (0-based) are in the source: 'lines 4, 9' of a csv/jsonl file,
    'files sport/7.txt' of class folders, else 'rows 3, 8' (1-based). Reads the file again: errors only."""
    if data.source == "csv":
        noun, places = "line", _csv_row_lines(Path(data.path), _encoding(data))
    elif data.source == "jsonl":
        noun, places = "line", [number for number, _ in _json_lines(Path(data.path), _encoding(data))]
    elif data.source in ("packaged", "folder"):
        root = _folder_root(data)
        noun, places = "file", [file.relative_to(root).as_posix() for file, _ in _class_files(root)]
    else:
        noun, places = "row", range(1, max(rows) + 2)
    return f"{noun}{'s' if len(rows) > 1 else ''} {preview([places[row] for row in rows])}"


def _read_folder(data: DictConfig) -> pd.DataFrame:
    fallback = data.get("fallback_encoding")
    try:
        return read_class_folders(_folder_root(data), _encoding(data), fallback and _codec(fallback, "data.fallback_encoding"))
    except FileDecodeError as err:
        raise _encoding_error(err.error, err.file, data) from None


def _folder_root(data: DictConfig) -> Path:
    """`data.path` (`folder`), or `package/inner/path` inside an installed package (`packaged`)."""
    if data.source == "folder":
        return _existing(data, folder=True)
    package, _, inner = data.path.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(
            "data-package-missing", f"package '{package}' is not installed", "data.path",
            f"install it (`pip install {package.replace('_', '-')}`) or run `make run`, which installs it")
    return Path(spec.submodule_search_locations[0]) / inner


class FileDecodeError(Exception):
    """A class folder's file that is in neither the encoding nor the fallback."""

    def __init__(self, file: Path, error: UnicodeDecodeError):
        super().__init__(f"{file}: {error}")
        self.file, self.error = file, error


def read_class_folders(root: Path, encoding: str = "utf-8-sig", fallback: str | None = None) -> pd.DataFrame:
    """One sub-folder per class, one text file per example (files sorted, so order is stable). A file not in
    `encoding` is read in `fallback` if given; in neither, FileDecodeError."""
    rows = [{"text": _read_text(file, encoding, fallback), "label": label} for file, label in _class_files(root)]
    if not rows:
        raise PipelineError(
            "data-folder-empty", "no <class>/*.txt files found", str(root),
            "point data.path at a folder with one sub-folder of .txt files per class")
    return pd.DataFrame(rows)


def _class_files(root: Path) -> list[tuple[Path, str]]:
    """(file, class) for each <class>/*.txt, sorted."""
    return [(file, folder.name) for folder in sorted(p for p in root.iterdir() if p.is_dir())
            for file in sorted(folder.glob("*.txt"))]


def _read_text(file: Path, encoding: str, fallback: str | None) -> str:
    raw = file.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        if fallback is None:
            raise FileDecodeError(file, err) from None
        try:
            return raw.decode(fallback)
        except UnicodeDecodeError:
            raise FileDecodeError(file, err) from None


def _read_table(data: DictConfig, multi_label: bool = False) -> pd.DataFrame:
    """A local csv/jsonl/parquet file, its columns mapped to text/label(/split)."""
    path = _existing(data, folder=False)
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    frame = readers[data.source](path, data)
    if frame.empty:
        raise PipelineError("data-file-empty", "data file has no rows", str(path), "add labelled rows")
    return select_columns(frame, data, str(path), multi_label=multi_label)


def _read_csv(path: Path, data: DictConfig) -> pd.DataFrame:
    encoding = _encoding(data)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise PipelineError("data-file-empty", "data file is empty", str(path),
                            "give a CSV with a header row and labelled rows") from None
    except UnicodeDecodeError as err:
        raise _encoding_error(err, path, data) from None
    except pd.errors.ParserError as err:
        raise _csv_parse_error(err, path, encoding) from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the first field of each row as its name
        raise PipelineError("data-malformed", f"malformed CSV: the rows have more fields than the header "
                            f"({len(frame.columns)})", f"{path} line {_csv_row_lines(path, encoding)[0]}",
                            "quote fields that hold commas, or remove the comma that ends each row")
    return frame


def _csv_parse_error(err: pd.errors.ParserError, path: Path, encoding: str) -> PipelineError:
    """pandas' parse error with the line in the file (pandas counts a multi-line quoted field as one line)."""
    message = str(err).strip().removeprefix("Error tokenizing data. C error: ")
    if fields := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message):
        what, record = f"a row has {fields[3]} fields but the header has {fields[1]}", int(fields[2]) - 1
    elif unclosed := re.search(r"EOF inside string starting at row (\d+)", message):
        what, record = "a quoted field is never closed", int(unclosed[1])
    else:
        return PipelineError("data-malformed", f"malformed CSV: {message}", str(path), CSV_FIX)
    line = _csv_records(path, encoding)[record][0]
    return PipelineError("data-malformed", f"malformed CSV: {what}", f"{path} line {line}", CSV_FIX)


def _csv_records(path: Path, encoding: str) -> list[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on, blank lines included."""
    csv.field_size_limit(2**31 - 1)  # long texts: the default limit is 128 KiB a field
    with open(path, encoding=encoding, newline="") as handle:
        reader, records, end = csv.reader(handle), [], 0
        for record in reader:
            records.append((end + 1, record))
            end = reader.line_num
    return records


def _csv_row_lines(path: Path, encoding: str) -> list[int]:
    """The line each data row starts on, as pandas reads rows (no header, no blank lines)."""
    lines = [line for line, record in _csv_records(path, encoding)
             if len(record) > 1 or "".join(record).strip()]
    return lines[1:]


def _read_jsonl(path: Path, data: DictConfig) -> pd.DataFrame:
    encoding = _encoding(data)
    try:
        return pd.read_json(path, lines=True, dtype=False, encoding=encoding)
    except UnicodeDecodeError as err:
        raise _encoding_error(err, path, data) from None
    except ValueError as err:
        bad = next(((number, problem) for number, line in _json_lines(path, encoding)
                    if (problem := _json_problem(line))), None)
        if bad is None:
            raise PipelineError("data-malformed", f"malformed JSON lines: {err}", str(path), JSONL_FIX) from None
        raise PipelineError("data-malformed", f"malformed JSON lines: {bad[1]}", f"{path} line {bad[0]}",
                            JSONL_FIX) from None


def _json_lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    """The non-blank lines of a JSON lines file (pandas skips blank ones), with their numbers."""
    with open(path, encoding=encoding) as handle:
        return [(number, line) for number, line in enumerate(handle, 1) if line.strip()]


def _json_problem(line: str) -> str | None:
    """Why a line is not one JSON object, or None."""
    try:
        value = json.loads(line)
    except ValueError as err:
        return f"invalid JSON ({err.msg}, column {err.colno})"
    return None if isinstance(value, dict) else "the line is not a JSON object {...}"


def _read_parquet(path: Path, data: DictConfig) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError) as err:
        raise PipelineError("data-malformed", f"not a readable parquet file: {err}", str(path),
                            "give a parquet file (pandas.DataFrame.to_parquet writes one)") from None


def _encoding(data: DictConfig) -> str:
    """The codec for `data.encoding` (UTF-8 by default); UTF-8 also skips a byte-order mark."""
    return _codec(data.get("encoding") or "utf-8", "data.encoding")


def _codec(name: str, key: str) -> str:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise PipelineError("config-out-of-range", f"unknown encoding '{name}'", key,
                            "use a Python codec name, e.g. utf-8, cp1252 or latin-1") from None
    return "utf-8-sig" if codec == "utf-8" else codec


def _encoding_error(err: UnicodeDecodeError, path: Path, data: DictConfig) -> PipelineError:
    """The first line that is not in the encoding, and which encoding to try instead."""
    name, codec = data.get("encoding") or "utf-8", _encoding(data)
    line = next((number for number, raw in enumerate(path.read_bytes().splitlines(), 1)
                 if not _decodes(raw, codec)), None)
    other = LEGACY_ENCODING if codec != LEGACY_ENCODING else "latin-1"
    mixed = f", -S data.fallback_encoding={other} to read only such files so" if data.source in ("folder", "packaged") else ""
    return PipelineError(
        "data-encoding", f"file is not valid {name} (byte 0x{err.object[err.start]:02x})",
        f"{path} line {line}" if line else str(path),
        f"set -S data.encoding={other} (or the file's encoding){mixed}, or save the file as UTF-8")


def _decodes(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _read_hf(data: DictConfig, multi_label: bool = False) -> pd.DataFrame:
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
        feature, raw = part.features.get(data.label_column), part.to_pandas()
        if multi_label and isinstance(getattr(feature, "feature", None), datasets.ClassLabel):  # Sequence(ClassLabel)
            labels = feature.feature.names
            raw[data.label_column] = raw[data.label_column].map(
                lambda ids: [] if ids is None else [labels[int(i)] for i in ids if int(i) >= 0])  # -1: no label
        frame = select_columns(raw, data, data.path, keep_split=False, multi_label=multi_label)
        if isinstance(feature, datasets.ClassLabel):  # one label a row (also for task=multi_label: sets of one)
            labels = feature.names
            frame["label"] = [feature.int2str(int(i)) if int(i) >= 0 else "" for i in frame["label"]]
        frames.append(frame.assign(split=SPLIT_NAMES[split_name.lower()]) if split_name else frame)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["labels"] = labels
    return frame


def select_columns(frame: pd.DataFrame, data: DictConfig, where: str, keep_split: bool = True,
                   multi_label: bool = False) -> pd.DataFrame:
    """Rename the configured columns to text/label(/text_pair)(/split), as strings; missing values become ''.

    Split values become train/validation/test (their aliases are accepted). For `multi_label` a label cell (a
    string joined by data.label_separator, or a list) becomes its joined label set (data.label_sets).
    """
    columns = {"text": data.text_column, "label": data.label_column}
    if data.get("text_pair_column"):
        columns[PAIR] = data.text_pair_column
    if keep_split and data.get("split_column"):
        columns["split"] = data.split_column
    for role, name in columns.items():
        if name not in frame.columns:
            raise _column_missing(role, name, [str(column) for column in frame.columns], where)
    picked = frame[list(columns.values())].set_axis(list(columns), axis=1)
    sets = picked["label"].map(lambda cell: label_set(cell, separator(data), _as_text)) if multi_label else None
    picked = picked.apply(lambda column: column.map(_as_text) if column.name != "label" or sets is None else sets)
    if "split" in picked:
        picked["split"] = canonical_splits(picked["split"], where)
    return picked


def _column_missing(role: str, name: str, columns: list[str], where: str) -> PipelineError:
    """The columns there are, and the closest to the one asked for (or the separator the file seems to use)."""
    separator = next((sep for sep in ";\t|" if len(columns) == 1 and sep in columns[0]), None)
    closest = difflib.get_close_matches(name, columns, n=1)
    if separator:
        fix = f"the file seems separated by {separator!r}, not commas: save it as a comma-separated CSV"
    elif closest:
        fix = f"set -S data.{role}_column={closest[0]} (the closest column)"
    else:
        fix = f"set -S data.{role}_column=<one of those columns>"
    return PipelineError("data-column-missing", f"{role} column '{name}' not found (columns: {', '.join(columns)})",
                         f"{where}, data.{role}_column", fix)


def _as_text(value) -> str:
    """A cell as text: missing is '', a whole float (an int column with gaps reads as 1.0) is '1'."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _existing(data: DictConfig, folder: bool) -> Path:
    """`data.path` if it exists and is a folder (`folder`) or a file (not `folder`); else a one-line error."""
    path, what = data.path, "folder" if folder else "file"
    if not path or not Path(path).exists():
        raise PipelineError("data-file-missing", f"data {what} '{path}' not found", "data.path",
                            f"set -S data.path=<path to your {what}, relative to the repository root>")
    if Path(path).is_dir() != folder:
        found = "a file" if folder else "a folder"
        other = ", or -S data.source=folder for one sub-folder of .txt files per class" if not folder else ""
        raise PipelineError("data-path-kind", f"data.source={data.source} reads a {what}, but '{path}' is {found}",
                            "data.path", f"point data.path at a {what}{other}")
    return Path(path)
