"""A model of label sets end to end: `dvc exp run -S task=multi_label` on a CSV of joined label sets, its reports,
predict, and the registered champion served from a fresh environment over real HTTP with the same output as
predict."""

import json
import sys
from pathlib import Path

import mlflow
import mlflow.artifacts
import pandas as pd
import pytest

from conftest import commit_all, run
from test_pairs_serve import tiny_bert
from test_serve import fresh_venv, post, post_status, serving

pytestmark = pytest.mark.slow

LABEL_SETS = ["-S", "gpu=cpu", "-S", "task=multi_label", "-S", "model.source=local", "-S", "model.path=tag_model",
              "-S", "data=csv", "-S", "data.path=data/tags.csv", "-S", "data.label_column=tags",
              "-S", "train.max_epochs=1", "-S", "eval.gate.threshold=0"]


def tagged_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Real label sets from class folders: every third article followed by the start of an article of another
    topic, tagged with both topics; the others alone, with their own."""
    rows = []
    for i, row in frame.iterrows():
        other = frame.iloc[(i * 7 + 31) % len(frame)]
        if i % 3 == 0 and other["label"] != row["label"]:
            rows.append({"text": f"{row['text'][:300]} {other['text'][:300]}", "tags": f"{row['label']}|{other['label']}"})
        else:
            rows.append({"text": row["text"][:400], "tags": row["label"]})
    return pd.DataFrame(rows)


def test_a_label_set_model_trains_reports_predicts_and_serves_from_a_fresh_environment(project, small_frame, tmp_path):
    (project / "data").mkdir()
    frame = tagged_frame(small_frame)
    frame.to_csv(project / "data/tags.csv", index=False)
    tiny_bert(project / "tag_model")
    commit_all(project)
    run([sys.executable, "-m", "dvc", "exp", "run", *LABEL_SETS], project)

    stats = json.loads((project / "reports/data_stats.json").read_text())
    topics = sorted(small_frame["label"].unique())
    assert stats["task"] == "multi_label" and stats["labels"] == topics
    assert sum(stats["rows_per_label"]["train"].values()) > stats["rows"]["train"]  # rows of two labels count twice
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert {"test/f1_micro", "test/hamming_loss", "test/f1_micro_low", "baseline/test/f1_micro"} <= set(metrics)
    assert {f"threshold/{topic}" for topic in topics} <= set(metrics)
    errors = pd.read_csv(project / "reports/errors.csv", keep_default_na=False)
    assert list(errors.columns) == ["text", "true", "predicted", "missed", "extra"] and len(errors) > 0
    truth = dict(zip(frame["text"].str.split().str.join(" "), frame["tags"]))
    assert all(set(true.split("|")) == set(truth[text].split("|")) for text, true in zip(errors["text"], errors["true"]))
    assert (project / "reports/figures/per_label.png").stat().st_size > 10_000
    export = project / "models/export"
    thresholds = json.loads((export / "thresholds.json").read_text())["thresholds"]
    assert thresholds == {topic: metrics[f"threshold/{topic}"] for topic in topics}
    assert json.loads((export / "config.json").read_text())["problem_type"] == "multi_label_classification"

    store = f"sqlite:///{project / 'mlflow.db'}"
    champion = "models:/text-classifier-csv-tags@champion"
    mlflow.set_tracking_uri(store)
    version = mlflow.MlflowClient(store).get_model_version_by_alias("text-classifier-csv-tags", "champion")
    assert version.tags["task"] == "multi_label"

    rows = frame.tail(8)
    rows.to_csv(tmp_path / "texts.csv", index=False)
    predicted = [json.loads(line) for line in run(
        [sys.executable, "-m", "pipeline.predict", champion, "--input", str(tmp_path / "texts.csv")],
        project).stdout.splitlines()]
    for row in predicted:  # each label set is the labels whose probability reaches their threshold
        assert row["labels"] == [topic for topic in topics if row[f"prob/{topic}"] >= thresholds[topic] - 1e-6]

    requirements = Path(mlflow.artifacts.download_artifacts(f"{champion}/requirements.txt", dst_path=str(tmp_path)))
    venv = fresh_venv(tmp_path / "serving-venv", requirements)
    with serving(venv, champion, store, tmp_path) as url:
        served = post(f"{url}/invocations", {"dataframe_split": {"columns": ["text"],
                                                                 "data": [[text] for text in rows["text"]]}})
        empty = post_status(f"{url}/invocations", {"dataframe_split": {"columns": ["text"], "data": [["fine"], [" "]]}})
    predictions = served["predictions"]
    assert [p["labels"] for p in predictions] == [row["labels"] for row in predicted]
    for p, row in zip(predictions, predicted):
        assert [p[f"prob/{topic}"] for topic in topics] == pytest.approx([row[f"prob/{topic}"] for topic in topics],
                                                                         abs=1e-5)
    assert empty[0] == 400 and "text 2 is empty" in empty[1]
