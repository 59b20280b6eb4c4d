"""Data sources: csv, jsonl, parquet and Hugging Face datasets give the same processed data; label order; truncation."""

import json
import subprocess
import sys

import pytest
from datasets import ClassLabel, Dataset, Features, Value, load_from_disk
from omegaconf import OmegaConf
from transformers import AutoTokenizer

from conftest import tool_env
from pipeline.core import paths
from pipeline.data.normalise import normalise_text
from pipeline.data.sources import load_frame
from pipeline.core.errors import PipelineError
from pipeline.stages.preprocess import preprocess

WRITERS = {
    "csv": lambda frame, path: frame.to_csv(path, index=False),
    "jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True),
    "parquet": lambda frame, path: frame.to_parquet(path, index=False),
}


def processed(workdir, monkeypatch, compose, *overrides):
    """Run preprocess in `workdir`; return its dataset (as lists), labels and stats."""
    monkeypatch.chdir(workdir)
    stats = preprocess(compose("model=tiny", *overrides))
    dataset = load_from_disk(str(paths.DATASET))
    return ({name: split.to_dict() for name, split in dataset.items()},
            json.loads(paths.LABELS.read_text()), stats)


def test_csv_jsonl_and_parquet_with_custom_columns_give_the_same_processed_dataset(tmp_path, monkeypatch, compose,
                                                                                 small_frame):
    frame = small_frame.rename(columns={"text": "body", "label": "topic"}).assign(id=range(len(small_frame)))
    results = {}
    for fmt, write in WRITERS.items():
        workdir = tmp_path / fmt
        workdir.mkdir()
        write(frame, workdir / f"news.{fmt}")
        results[fmt] = processed(workdir, monkeypatch, compose, f"data={fmt}", f"data.path=news.{fmt}",
                                 "data.text_column=body", "data.label_column=topic")
    reference = results["csv"]
    assert reference[1] == sorted(small_frame["label"].unique())
    assert sum(len(split["text"]) for split in reference[0].values()) == len(small_frame)
    for fmt in ("jsonl", "parquet"):
        assert results[fmt] == reference, f"{fmt} differs from csv"


def test_hf_dataset_keeps_its_label_order_and_its_own_splits(tmp_path, monkeypatch, compose, small_frame):
    names = ["tech", "sports", "politics", "entertainment", "business"]  # a ClassLabel order, not sorted
    features = Features({"content": Value("string"), "topic": ClassLabel(names=names)})
    folder = tmp_path / "hf_data"
    test_rows = small_frame.groupby("label").head(8)
    for split_name, part in {"train": small_frame.drop(test_rows.index), "test": test_rows}.items():
        Dataset.from_dict({"content": part["text"].tolist(), "topic": part["label"].tolist()},
                          features=features).to_parquet(str(folder / f"{split_name}.parquet"))
    dataset, labels, stats = processed(tmp_path, monkeypatch, compose, "data=hf", f"data.path={folder}",
                                       "data.text_column=content", "data.label_column=topic")
    assert labels == names
    assert stats["rows"]["test"] == len(test_rows) and sorted(dataset["test"]["text"]) == sorted(map(normalise_text, test_rows["text"]))
    assert stats["rows"]["validation"] > 0  # carved from the train split
    label_of = dict(zip(map(normalise_text, small_frame["text"]), small_frame["label"]))
    assert all(names[i] == label_of[text] for text, i in zip(dataset["train"]["text"], dataset["train"]["labels"]))


def test_hf_rows_without_a_label_stop_with_their_row_numbers(tmp_path):
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    Dataset.from_dict({"text": ["good", "bad", "unsure"], "label": [1, 0, -1]},  # -1: ClassLabel's "no label"
                      features=features).to_parquet(str(tmp_path / "hf" / "train.parquet"))
    data = OmegaConf.create({"source": "hf", "path": str(tmp_path / "hf"), "text_column": "text",
                             "label_column": "label", "drop_incomplete": False})
    with pytest.raises(PipelineError, match=r"1 row has an empty text or no label \(row 3\)"):
        load_frame(data)


def test_declared_label_order_is_kept(tmp_path, monkeypatch, compose, small_frame):
    small_frame.to_csv(tmp_path / "news.csv", index=False)
    order = ["sports", "business", "tech", "politics", "entertainment"]
    _, labels, _ = processed(tmp_path, monkeypatch, compose, "data=csv", "data.path=news.csv",
                             f"data.labels=[{','.join(order)}]")
    assert labels == order


@pytest.mark.parametrize("side", ["right", "left"])
def test_long_texts_are_cut_on_the_configured_side_and_counted(tmp_path, monkeypatch, compose, small_frame, side):
    small_frame.to_csv(tmp_path / "news.csv", index=False)
    dataset, _, stats = processed(tmp_path, monkeypatch, compose, "data=csv", "data.path=news.csv",
                                  "model.max_seq_len=16", f"data.truncation_side={side}")
    assert (stats["tokens"]["max_seq_len"], stats["tokens"]["side"]) == (16, side)
    assert {name: stats["tokens"][name]["cut"] for name in stats["rows"]} == stats["rows"]  # every text is cut
    tokenizer = AutoTokenizer.from_pretrained(paths.TOKENIZER)
    text, ids = dataset["test"]["text"][0], dataset["test"]["input_ids"][0]
    full = tokenizer(text)["input_ids"]
    assert len(ids) == 16 and len(full) > 16
    kept = full[1:15] if side == "right" else full[-15:-1]  # between [CLS] and [SEP]
    assert ids[1:15] == kept
    assert tokenizer.truncation_side == side  # serving cuts the same way


def test_hub_dataset_offline_says_how_to_use_local_data(tmp_path, compose):
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(compose("data=hf", "data.path=ag_news")))
    result = subprocess.run([sys.executable, "-m", "pipeline.stages.preprocess"], cwd=tmp_path, capture_output=True,
                            text=True, env=dict(tool_env(), HF_HUB_OFFLINE="1"))
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "could not load dataset 'ag_news'" in message and "local folder" in message
    assert not (tmp_path / "data").exists() and not (tmp_path / "reports").exists()
