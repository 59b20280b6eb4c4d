"""Bad data stops preprocess with one line `error[code]: what [where] -> fix: ...`, exit code 2, nothing written.

Each case writes a data file and params.yaml (composed as `dvc exp run -S ...` would) into a fresh
directory and runs the stage's entry point in-process. Every data check comes before tokenizing, so
only the two cases that succeed tokenize (tiny data, model=tiny: a BPE tokenizer trained in-process).
"""

import json

import pytest
from datasets import load_from_disk
from omegaconf import OmegaConf

from pipeline.core.errors import run_main
from pipeline.stages import preprocess


def rows(count: int, labels: str = "ab", start: int = 0, split: str | None = None) -> str:
    """`count` distinct CSV rows `text <i>,<label>` taking the labels in turn, with a split value if given."""
    end = f",{split}" if split else ""
    return "".join(f"text {i},{labels[i % len(labels)]}{end}\n" for i in range(start, start + count))


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


GOOD = "text,label\n" + rows(40)  # 2 classes, 40 rows: enough for train/validation/test
TRAIN = "text,label,split\n" + rows(30, split="train")
CSV = ("data=csv", "data.path=bad.csv")
JSONL = ("data=jsonl", "data.path=bad.jsonl")
SPLIT = (*CSV, "data.split_column=split")

# case: (files to write, overrides, error code, what the error line must contain besides the code and the fix)
CASES = {
    "missing file": ({}, CSV, "data-file-missing", ["data file 'bad.csv' not found [data.path]"]),
    "empty file": ({"bad.csv": ""}, CSV, "data-file-empty", ["[bad.csv]"]),
    "header only": ({"bad.csv": "text,label\n"}, CSV, "data-file-empty", ["has no rows [bad.csv]"]),
    "non-UTF-8 CSV": ({"bad.csv": (GOOD + "café,a\n").encode("cp1252")}, CSV, "data-encoding",
                      ["[bad.csv line 42]", "-S data.encoding=cp1252"]),
    "non-UTF-8 JSONL": ({"bad.jsonl": jsonl({"text": "ok", "label": "a"}, {"text": "café", "label": "b"}).encode("cp1252")},
                        JSONL, "data-encoding", ["[bad.jsonl line 2]", "-S data.encoding=cp1252"]),
    "unknown encoding": ({"bad.csv": GOOD}, (*CSV, "data.encoding=klingon"), "config-out-of-range",
                         ["'klingon' [data.encoding]"]),
    # pandas counts the quoted two-line field as one line (and says line 6); the error names the file's line
    "malformed CSV row": ({"bad.csv": 'text,label\n"two\nlines",a\n' + rows(3) + "a, comma,b\n"}, CSV,
                          "data-malformed", ["3 fields but the header has 2 [bad.csv line 7]"]),
    "unclosed CSV quote": ({"bad.csv": GOOD + '"never closed,a\n' + rows(2, start=50)}, CSV, "data-malformed",
                           ["never closed [bad.csv line 42]"]),
    "more fields than the header": ({"bad.csv": "text,label\n" + rows(40).replace("\n", ",x\n")}, CSV,
                                    "data-malformed", ["more fields than the header", "[bad.csv line 2]"]),
    "malformed JSON line": ({"bad.jsonl": jsonl({"text": "a", "label": "x"}) + '\n{"text": "b" "label": "y"}\n'},
                            JSONL, "data-malformed", ["[bad.jsonl line 3]", "one JSON object per line"]),
    "unreadable parquet": ({"bad.parquet": b"PAR1 this is not parquet"}, ("data=parquet", "data.path=bad.parquet"),
                           "data-malformed", ["not a readable parquet file", "[bad.parquet]"]),
    "missing text column": ({"bad.csv": GOOD.replace("text,label", "body,label", 1)}, CSV, "data-column-missing",
                            ["text column 'text' not found (columns: body, label)", "[bad.csv, data.text_column]"]),
    "misnamed label column": ({"bad.csv": GOOD.replace("text,label", "text,labels", 1)}, CSV, "data-column-missing",
                              ["[bad.csv, data.label_column]", "-S data.label_column=labels (the closest column)"]),
    "semicolon-separated file": ({"bad.csv": GOOD.replace(",", ";")}, CSV, "data-column-missing",
                                 ["(columns: text;label)", "separated by ';'"]),
    "missing split column": ({"bad.csv": GOOD}, SPLIT, "data-column-missing",
                             ["split column 'split' not found", "data.split_column"]),
    "empty texts and labels": ({"bad.csv": "text,label\n" + rows(3) + "   ,a\n" + rows(4, start=3) + "&nbsp;,b\n"
                                + "a text without label,\n" + rows(30, start=7)}, CSV, "data-incomplete-rows",
                               ["3 rows have an empty text or no label (lines 5, 10, 11) [bad.csv]",
                                "-S data.drop_incomplete=true"]),
    "null labels": ({"bad.jsonl": jsonl({"text": "a", "label": "x"}, {"text": "b", "label": "y"},
                                        {"text": "c", "label": None}, {"text": "d", "label": "x"}, {"text": "e"})},
                    JSONL, "data-incomplete-rows", ["2 rows have an empty text or no label (lines 3, 5) [bad.jsonl]"]),
    "empty text file in a class folder": ({"docs/a/1.txt": "fine", "docs/a/2.txt": " \n", "docs/b/1.txt": "good"},
                                          ("data=csv", "data.source=folder", "data.path=docs"),
                                          "data-incomplete-rows", ["1 row has an empty text or no label (file a/2.txt)"]),
    "non-UTF-8 file in a class folder": ({"docs/a/1.txt": "fine", "docs/a/2.txt": "café".encode("cp1252"),
                                          "docs/b/1.txt": "good"}, ("data=csv", "data.source=folder", "data.path=docs"),
                                         "data-encoding", ["not valid utf-8 (byte 0xe9) [docs/a/2.txt line 1]",
                                                           "-S data.fallback_encoding=cp1252"]),
    "a folder where the csv source reads a file": ({"docs/a/1.txt": "fine"}, ("data=csv", "data.path=docs"),
                                                   "data-path-kind", ["data.source=csv reads a file, but 'docs' is a "
                                                                      "folder [data.path]", "-S data.source=folder"]),
    "a file where the folder source reads a folder": ({"bad.csv": GOOD}, ("data=csv", "data.source=folder",
                                                                          "data.path=bad.csv"), "data-path-kind",
                                                      ["data.source=folder reads a folder, but 'bad.csv' is a file"]),
    "nothing left after dropping": ({"bad.csv": "text,label\n ,a\nno label,\n"}, (*CSV, "data.drop_incomplete=true"),
                                    "data-no-rows", ["[bad.csv]"]),
    "single class": ({"bad.csv": "text,label\n" + rows(20, labels="a")}, CSV, "data-single-class",
                     ["only one class (a)", "[bad.csv, data.label_column]"]),
    "too few rows": ({"bad.csv": "text,label\n" + rows(12, labels="abc")}, CSV, "data-too-few-rows",
                     ["12 rows are too few", "3 classes", "at least 22 are needed", "[bad.csv, data.val_size/test_size]"]),
    "rare class": ({"bad.csv": GOOD + "rare one,c\nrare two,c\n"}, CSV, "data-too-few-rows",
                   ["fewer than 3 rows", "c (2)", "[bad.csv, data.label_column]"]),
    "class only in validation/test": ({"bad.csv": TRAIN + "only here,c,test\n" + rows(5, start=30, split="test")},
                                      SPLIT, "data-label-unseen", ["label(s) c appear", "[bad.csv, data.split_column]"]),
    "unknown split values": ({"bad.csv": TRAIN + rows(10, start=30, split="holdout")}, SPLIT, "data-split-values",
                             ["'holdout'", "[bad.csv, data.split_column]"]),
    "split column without test rows": ({"bad.csv": TRAIN + rows(6, start=30, split="val")}, SPLIT,
                                       "data-split-incomplete", ["marks no test rows", "[bad.csv, data.split_column]"]),
    "too few training rows to carve validation": (
        {"bad.csv": "text,label,split\n" + rows(6, "abc", split="train") + rows(6, "abc", start=6, split="test")},
        SPLIT, "data-too-few-rows", ["6 training rows are too few", "at least 21 are needed"]),
    "labels missing from data.labels": ({"bad.csv": GOOD}, (*CSV, "data.labels=[a]"), "data-labels-undeclared",
                                        ["['b'] are in the data but not in data.labels [data.labels]"]),
}


def messages(capsys) -> list[str]:
    """The warning and error lines on stderr (not the progress bars)."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith(("warning[", "error["))]


@pytest.fixture
def stage_dir(tmp_path, monkeypatch, compose):
    """stage_dir(files, overrides): write the files and params.yaml into tmp_path, the working directory."""
    def prepare(files: dict, overrides: tuple[str, ...]):
        for name, content in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(compose("model=tiny", *overrides)))
        monkeypatch.chdir(tmp_path)
        return tmp_path

    return prepare


@pytest.mark.parametrize("case", CASES)
def test_bad_data_stops_the_stage_with_one_line_and_writes_nothing(case, stage_dir, capsys):
    files, overrides, code, expected = CASES[case]
    workdir = stage_dir(files, overrides)
    with pytest.raises(SystemExit) as stopped:
        run_main(preprocess.main)
    lines = capsys.readouterr().err.splitlines()
    assert stopped.value.code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error[{code}]: ") and " -> fix: " in lines[0], lines
    for part in expected:
        assert part in lines[0]
    assert not (workdir / "data/processed").exists() and not (workdir / "reports").exists()


def test_texts_repeated_across_splits_are_dropped_from_validation_and_test(stage_dir, capsys):
    data = (TRAIN + "text 0,a,train\n"                         # an exact duplicate within train
            + rows(8, start=30, split="test") + rows(6, start=40, split="val")
            + "text 3,b,test\ntext 5,b,validation\n"           # copies of train texts: train keeps them
            + "text 31,b,dev\n")                               # a copy of a test text: test keeps it
    workdir = stage_dir({"bad.csv": data}, SPLIT)
    run_main(preprocess.main)
    assert messages(capsys) == [
        "warning[data-split-overlap]: 3 rows of validation/test repeat a text of another split; dropped so they "
        "cannot leak (train keeps its copy; a text in validation and test stays in test)"]
    stats = json.loads((workdir / "reports/data_stats.json").read_text())
    assert stats["cleaning"]["dropped_split_overlap"] == 3 and stats["cleaning"]["dropped_duplicate"] == 1
    assert stats["rows"] == {"train": 30, "validation": 6, "test": 8}
    dataset = load_from_disk(str(workdir / "data/processed/dataset"))
    train, val, test = (set(dataset[name]["text"]) for name in ("train", "validation", "test"))
    assert not (train & val or train & test or val & test)


def test_drop_incomplete_drops_and_counts_the_rows(stage_dir, capsys):
    workdir = stage_dir({"bad.csv": GOOD + "   ,a\na text without label,\n"}, (*CSV, "data.drop_incomplete=true"))
    run_main(preprocess.main)
    assert messages(capsys) == []
    stats = json.loads((workdir / "reports/data_stats.json").read_text())
    assert stats["cleaning"]["dropped_incomplete"] == 2 and stats["cleaning"]["rows_out"] == 40
    assert sum(stats["rows"].values()) == 40
