"""Loading, cleaning and splitting user data (bad inputs: tests/test_bad_inputs.py)."""

import random

import pandas as pd
import pytest
from omegaconf import OmegaConf

from pipeline.data.clean import clean
from pipeline.data.labels import label_order
from pipeline.data.sources import load_frame
from pipeline.data.normalise import BadText, normalise_text, request_texts
from pipeline.data.split import bucket, split, split_sizes
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


def test_a_class_folder_of_mixed_encodings_reads_with_a_fallback_encoding(tmp_path):
    for name, raw in {"a/1.txt": "naïve".encode(), "a/2.txt": "café".encode("cp1252"), "b/1.txt": b"plain"}.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(raw)
    frame = load_frame(csv_config(tmp_path, source="folder", fallback_encoding="cp1252"))
    assert frame["text"].tolist() == ["naïve", "café", "plain"]  # UTF-8 read as UTF-8, only the other as cp1252


@pytest.mark.parametrize("raw, expected", [
    ("Tom &amp; Jerry\n\t show", "Tom & Jerry show"),
    ("&amp;amp;lt;b&amp;amp;gt;", "<b>"),  # escaped twice over: read until no entity is left
    ("  caf&eacute;&nbsp;&#10;bar  ", "café bar"),  # &nbsp; and &#10; are whitespace once read
    ("AT&T &amp co", "AT&T & co"),  # HTML reads &amp without its semicolon too
])
def test_normalising_reads_entities_and_whitespace_and_a_second_time_changes_nothing(raw, expected):
    assert normalise_text(raw) == expected
    assert normalise_text(expected) == expected


@pytest.mark.parametrize("values, said", [
    (["fine", None], "text 2 is null, not a string"), (["fine", float("nan")], "text 2 is null, not a string"),
    ([3], "text 1 is int, not a string"), (["fine", " &nbsp;\n"], "text 2 is empty once HTML entities"),
])
def test_a_request_with_a_null_or_empty_text_is_refused_naming_it(values, said):
    with pytest.raises(BadText, match=said):
        request_texts(values)
    assert request_texts(["a &amp;\nb"]) == ["a & b"]


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
    assert split(small_frame, 0.1, 0.1, seed=8)["test"]["text"].tolist() != first["test"]["text"].tolist()


def test_a_rows_split_is_its_texts_sha256_bucket():
    # by coreutils: `printf '42\0hello' | sha256sum` starts 3d49d3ed13514c13, / 2**64 = 0.2394...;
    # `printf '42\0kitten' | sha256sum` starts 09c3422a2fc2a76a, 0.0381... (in test's bucket, under 0.1)
    assert bucket(["hello", "kitten"], 42) == pytest.approx([0.23940777338, 0.03813565759], abs=1e-10)


def test_appending_rows_moves_no_existing_row_between_splits():
    rng = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta"]
    rows = [(" ".join(rng.choices(words, k=6)) + f" {i}", f"c{i % 4}" if i % 40 else "small") for i in range(2000)]
    old = pd.DataFrame(rows[:1800], columns=["text", "label"])
    grown = pd.DataFrame(rows, columns=["text", "label"])  # 10 % more, the small class included
    before, after = split(old, 0.1, 0.1, seed=42), split(grown, 0.1, 0.1, seed=42)
    placed = {text: name for name, part in after.items() for text in part["text"]}
    moved = [(text, name, placed[text]) for name, part in before.items() for text in part["text"]
             if placed[text] != name]
    assert moved == []
    for part in after.values():  # every class in every split, the 50-row class too
        assert part["label"].nunique() == 5
    # the buckets keep the shares: 10 % of 2,000 is 200 expected, binomial sd 13
    assert 160 <= len(after["test"]) <= 240 and 160 <= len(after["validation"]) <= 240


def test_a_class_with_no_row_in_a_bucket_lends_its_nearest_row():
    texts = [f"r{i}" for i in range(60)]
    places = dict(zip(texts, bucket(texts, 0)))
    # three rows of class "few", none of whose buckets is under 0.1: test gets the lowest, validation the next
    few = sorted((t for t in texts if places[t] > 0.2), key=places.get)[:3]
    frame = pd.DataFrame({"text": [*few, *(t for t in texts if t not in few)],
                          "label": ["few"] * 3 + ["many"] * 57})
    parts = split(frame, 0.1, 0.1, seed=0)
    got = {name: part.loc[part["label"] == "few", "text"].tolist() for name, part in parts.items()}
    assert got == {"test": [few[0]], "validation": [few[1]], "train": [few[2]]}


@pytest.mark.parametrize("classes, val_size, test_size", [(3, 0.1, 0.1), (5, 0.2, 0.15), (2, 0.05, 0.3)])
def test_too_few_rows_says_how_many_are_needed_and_that_many_split(classes, val_size, test_size):
    def frame(rows):
        return pd.DataFrame({"text": [f"t{i}" for i in range(rows)], "label": [f"c{i % classes}" for i in range(rows)]})

    with pytest.raises(PipelineError, match=r"at least (\d+) are needed") as err:
        split(frame(3 * classes), val_size, test_size, seed=0)
    needed = int(err.value.what.rsplit("at least ", 1)[1].split()[0])
    parts = split(frame(needed), val_size, test_size, seed=0)
    assert sum(len(part) for part in parts.values()) == needed
    assert all(part["label"].nunique() == classes for part in parts.values())
    expected = split_sizes(needed, val_size, test_size)
    assert all(len(parts[name]) >= classes for name in expected)
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
