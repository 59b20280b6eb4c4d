"""Loading, cleaning and splitting user data; each bad input is a one-line PipelineError."""

import pandas as pd
import pytest
from omegaconf import OmegaConf

from pipeline.data.clean import clean
from pipeline.data.sources import load_frame
from pipeline.data.split import split
from pipeline.errors import PipelineError


def csv_config(path, **overrides):
    base = {"source": "csv", "path": str(path), "text_column": "text", "label_column": "label",
            "split_column": None, "val_size": 0.1, "test_size": 0.1}
    return OmegaConf.create({**base, **overrides})


def test_bbc_corpus_loads_every_article_including_the_one_not_in_utf8(bbc_frame):
    assert len(bbc_frame) == 2225
    assert sorted(bbc_frame["label"].unique()) == ["business", "entertainment", "politics", "sports", "tech"]
    assert bbc_frame["text"].str.contains("£").any()


def test_csv_with_custom_column_names(tmp_path):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"body": ["a b", "c d"], "topic": ["x", "y"]}).to_csv(path, index=False)
    frame = load_frame(csv_config(path, text_column="body", label_column="topic"))
    assert list(frame.columns) == ["text", "label"]
    assert frame["label"].tolist() == ["x", "y"]


@pytest.mark.parametrize("content, expected", [
    ("", "empty"),
    ("text,label\n", "no rows"),
    ("body,label\nhello,a\n", "text column 'text' not found"),
    ("text,category\nhello,a\n", "label column 'label' not found"),
])
def test_bad_csv_files(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PipelineError, match=expected) as err:
        load_frame(csv_config(path))
    assert str(path) in str(err.value) and "fix:" in str(err.value) and "\n" not in str(err.value)


def test_missing_file_names_the_key(tmp_path):
    with pytest.raises(PipelineError, match="data.path"):
        load_frame(csv_config(tmp_path / "absent.csv"))


def test_non_utf8_file_says_which_option_to_set(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncost £5,a\n".encode("cp1252"))
    with pytest.raises(PipelineError, match="data.encoding=cp1252"):
        load_frame(csv_config(path))
    assert load_frame(csv_config(path, encoding="cp1252"))["text"][0] == "cost £5"


def test_clean_unescapes_html_and_drops_empty_duplicate_and_conflicting_rows():
    frame = pd.DataFrame({
        "text": ["Tom &amp; Jerry", "Tom & Jerry", "  ", "same  text", "same text", "x"],
        "label": ["a", "a", "a", "b", "c", " "],
    })
    cleaned, stats = clean(frame)
    assert cleaned.to_dict("records") == [{"text": "Tom & Jerry", "label": "a"}]
    assert stats == {"rows_in": 6, "dropped_empty": 2, "dropped_duplicate": 1,
                     "dropped_conflicting_label": 2, "rows_out": 1}


def test_split_is_stratified_deterministic_and_disjoint(small_frame):
    first = split(small_frame, 0.1, 0.1, seed=7)
    second = split(small_frame, 0.1, 0.1, seed=7)
    for name in ("train", "validation", "test"):
        assert first[name]["text"].tolist() == second[name]["text"].tolist()
        assert first[name]["label"].nunique() == 5
    texts = [set(part["text"]) for part in first.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert sum(len(part) for part in first.values()) == len(small_frame)


def test_single_class_is_rejected():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": ["only"] * 10})
    with pytest.raises(PipelineError, match="only one class"):
        split(frame, 0.1, 0.1, seed=0)


def test_too_rare_class_is_rejected():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(12)], "label": ["a"] * 10 + ["b"] * 2})
    with pytest.raises(PipelineError, match="fewer than 3 rows"):
        split(frame, 0.1, 0.1, seed=0)


def test_split_column_is_respected_and_validation_carved_from_train(small_frame):
    frame = small_frame.assign(split=["test" if i % 5 == 0 else "Train" for i in range(len(small_frame))])
    parts = split(frame, 0.1, 0.1, seed=0)
    assert len(parts["test"]) == 40
    assert len(parts["train"]) + len(parts["validation"]) == 160
    assert "split" not in parts["train"].columns


def test_label_only_in_test_is_rejected():
    frame = pd.DataFrame({"text": list("abcdef"), "label": ["x", "y", "x", "y", "z", "z"],
                          "split": ["train", "train", "train", "train", "test", "test"]})
    frame.loc[2, "split"] = "val"
    with pytest.raises(PipelineError, match="never in train"):
        split(frame, 0.1, 0.1, seed=0)
