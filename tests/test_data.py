"""Loading, cleaning and splitting user data (bad inputs: tests/test_bad_inputs.py)."""

import pandas as pd
import pytest
from omegaconf import OmegaConf

from pipeline.data.clean import clean
from pipeline.data.labels import label_order
from pipeline.data.sources import load_frame
from pipeline.data.split import split, split_sizes
from pipeline.core.errors import PipelineError


def csv_config(path, **overrides):
    base = {"source": "csv", "path": str(path), "text_column": "text", "label_column": "label",
            "split_column": None, "drop_incomplete": False, "val_size": 0.1, "test_size": 0.1}
    return OmegaConf.create({**base, **overrides})


def test_bbc_corpus_loads_every_article_including_the_one_not_in_utf8(bbc_frame):
    assert len(bbc_frame) == 2225
    assert sorted(bbc_frame["label"].unique()) == ["business", "entertainment", "politics", "sports", "tech"]
    assert bbc_frame["text"].str.contains("£").any()


# case: (file name, content, config overrides, the (text, label[, split]) rows loaded)
AWKWARD_FILES = {
    "custom column names": ("f.csv", "body,topic\na b,x\nc d,y\n", {"text_column": "body", "label_column": "topic"},
                            [["a b", "x"], ["c d", "y"]]),
    "byte-order mark and Windows line endings": ("f.csv", "\ufefftext,label\r\nhello,a\r\nworld,b\r\n", {},
                                                 [["hello", "a"], ["world", "b"]]),
    "index column written by to_csv": ("f.csv", ",text,label\n0,hello,a\n1,world,b\n", {},
                                       [["hello", "a"], ["world", "b"]]),
    "quoted field over two lines": ("f.csv", 'text,label\n"two\r\nlines, one comma",a\n', {},
                                    [["two\r\nlines, one comma", "a"]]),
    "cp1252 with data.encoding": ("f.csv", "text,label\ncost £5,a\n".encode("cp1252"), {"encoding": "cp1252"},
                                  [["cost £5", "a"]]),
    "own split column, any case and aliases": ("f.csv", "text,label,part\nx,a,Train\ny,b, DEV\nz,a,eval\n",
                                               {"split_column": "part"},
                                               [["x", "a", "train"], ["y", "b", "validation"], ["z", "a", "test"]]),
    "JSON lines: number labels, a gap, a BOM, CRLF": (
        "f.jsonl", '\ufeff{"text": "x", "label": 1}\r\n{"text": "y", "label": null}\r\n\r\n{"text": "z", "label": 0}\r\n',
        {"source": "jsonl", "drop_incomplete": True}, [["x", "1"], ["y", ""], ["z", "0"]]),
    "parquet: number labels with a gap": ("f.parquet", pd.DataFrame({"text": ["x", "y"], "label": [1, None]}),
                                          {"source": "parquet", "drop_incomplete": True}, [["x", "1"], ["y", ""]]),
}


@pytest.mark.parametrize("case", AWKWARD_FILES)
def test_awkward_but_valid_files_load(tmp_path, case):
    name, content, overrides, expected = AWKWARD_FILES[case]
    path = tmp_path / name
    if isinstance(content, pd.DataFrame):
        content.to_parquet(path)
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert load_frame(csv_config(path, **overrides)).values.tolist() == expected


def test_clean_unescapes_html_and_drops_incomplete_duplicate_and_conflicting_rows():
    frame = pd.DataFrame({
        "text": ["Tom &amp; Jerry", "Tom & Jerry", "  ", "same  text", "same text", "x", "&nbsp;"],
        "label": ["a", "a", "a", "b", "c", " ", "a"],
    })
    cleaned, stats = clean(frame)
    assert cleaned.to_dict("records") == [{"text": "Tom & Jerry", "label": "a"}]
    assert stats == {"rows_in": 7, "dropped_incomplete": 3, "dropped_duplicate": 1, "dropped_conflicting_label": 2,
                     "dropped_split_overlap": 0, "rows_out": 1}


def test_clean_keeps_a_text_in_several_splits_once_train_first_then_test(capsys):
    frame = pd.DataFrame({"text": ["t", "t", "t", "v", "v", "w", "w"], "label": ["a"] * 7,
                          "split": ["test", "validation", "train", "validation", "test", "train", "train"]})
    cleaned, stats = clean(frame)
    assert cleaned.to_dict("records") == [{"text": "t", "label": "a", "split": "train"},
                                          {"text": "v", "label": "a", "split": "test"},
                                          {"text": "w", "label": "a", "split": "train"}]
    assert stats["dropped_split_overlap"] == 3 and stats["dropped_duplicate"] == 1
    assert capsys.readouterr().err.startswith("warning[data-split-overlap]: 3 rows")


def test_split_is_stratified_deterministic_and_disjoint(small_frame):
    first = split(small_frame, 0.1, 0.1, seed=7)
    second = split(small_frame, 0.1, 0.1, seed=7)
    for name in ("train", "validation", "test"):
        assert first[name]["text"].tolist() == second[name]["text"].tolist()
        assert first[name]["label"].nunique() == 5
    texts = [set(part["text"]) for part in first.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert sum(len(part) for part in first.values()) == len(small_frame)


@pytest.mark.parametrize("classes, val_size, test_size", [(3, 0.1, 0.1), (5, 0.2, 0.15), (2, 0.05, 0.3)])
def test_too_few_rows_says_how_many_are_needed_and_that_many_split(classes, val_size, test_size):
    def frame(rows):
        return pd.DataFrame({"text": [f"t{i}" for i in range(rows)], "label": [f"c{i % classes}" for i in range(rows)]})

    with pytest.raises(PipelineError, match=r"at least (\d+) are needed") as err:
        split(frame(3 * classes), val_size, test_size, seed=0)
    needed = int(err.value.what.rsplit("at least ", 1)[1].split()[0])
    parts = split(frame(needed), val_size, test_size, seed=0)
    assert {name: len(part) for name, part in parts.items()} == split_sizes(needed, val_size, test_size)
    assert all(part["label"].nunique() == classes for part in parts.values())
    with pytest.raises(PipelineError, match="are too few"):
        split(frame(needed - 1), val_size, test_size, seed=0)


def test_split_column_is_respected_and_validation_carved_from_train(small_frame):
    frame = small_frame.assign(split=["test" if i % 5 == 0 else "train" for i in range(len(small_frame))])
    parts = split(frame, 0.1, 0.1, seed=0)
    assert len(parts["test"]) == 40
    assert len(parts["train"]) + len(parts["validation"]) == 160
    assert "split" not in parts["train"].columns


def test_labels_that_are_whole_numbers_are_ordered_as_numbers():
    assert label_order({"10", "2", "-1", "0"}, None, None, "data.labels") == ["-1", "0", "2", "10"]
    assert label_order({"10", "2", "b"}, None, None, "data.labels") == ["10", "2", "b"]
