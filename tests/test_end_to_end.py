"""The real thing: `dvc exp run` on model=tiny (MLM-pretrained, then fine-tuned) in a fresh git repo."""

import json
import sys

import yaml
from mlflow.tracking import MlflowClient

from conftest import commit_all, metric_keys, run
from pipeline.predict import predict

TINY = ["-S", "gpu=cpu", "-S", "model=tiny", "-S", "data=csv", "-S", "data.path=data/small.csv",
        "-S", "data.text_column=body", "-S", "data.label_column=topic", "-S", "train.max_epochs=1",
        "-S", "eval.gate.threshold=0", "-S", "pretrain.steps=20"]


def test_exp_run_trains_evaluates_exports_and_tracks(project, small_frame, monkeypatch):
    (project / "data").mkdir()
    small_frame.rename(columns={"text": "body", "label": "topic"}).to_csv(project / "data/small.csv", index=False)
    commit_all(project, "project with a small csv")

    run([sys.executable, "-m", "dvc", "exp", "run", *TINY], project)

    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert set(metrics) == metric_keys(sorted(small_frame["label"].unique()))
    assert all(0.0 <= value <= 1.0 for key, value in metrics.items()
               if key not in ("calibration/temperature", "baseline/train_rows"))
    assert metrics["baseline/train_rows"] == json.loads((project / "reports/data_stats.json").read_text())["rows"]["train"]
    assert metrics["calibration/temperature"] > 0
    export = project / "models/export"
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= {p.name for p in export.iterdir()}
    assert "test/f1_macro" in (export / "README.md").read_text()
    assert "95 % bootstrap interval" in (export / "README.md").read_text()
    assert json.loads((export / "calibration.json").read_text()) == {"temperature": metrics["calibration/temperature"]}
    assert "Quality gate (validation split): val/f1 >= 0.0; eval.gate.threshold=0 (set)" in (export / "README.md").read_text()
    assert {"confusion_matrix.png", "reliability.png"} <= {p.name for p in (project / "reports/figures").iterdir()}
    assert (project / "reports/suspect_labels.csv").read_text().startswith("text,given,suggested")

    summary = json.loads((project / "models/trained/training.json").read_text())
    pretraining = json.loads((project / "models/pretrained/pretraining.json").read_text())
    assert pretraining["pretrained"] is True and pretraining["last_loss"] < pretraining["first_loss"]
    assert summary["started_from"] == "models/pretrained"  # fine-tuned from the MLM-pretrained weights
    mlflow = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    tracked = mlflow.get_run(summary["mlflow_run_id"])
    assert tracked.data.metrics["test/f1_macro"] == metrics["test/f1_macro"]
    assert "val/f1" in tracked.data.metrics and "train/loss" in tracked.data.metrics
    assert tracked.data.params["model/name"] == "tiny"
    coverage = json.loads((project / "reports/data_stats.json").read_text())["tokens"]
    for split in ("train", "validation", "test"):  # how the model reads each split, logged with the run
        for figure in ("fragment_share", "tokens_per_character", "tokens_per_word", "cut_share"):
            assert tracked.data.metrics[f"data/{split}/{figure}"] == coverage[split][figure]
    assert tracked.data.tags["gpu_profile"] == "cpu" and len(tracked.data.tags["git_commit"]) == 40

    registry = json.loads((project / "reports/registry.json").read_text())
    assert registry["version"] == 1 and registry["champion"] is True  # first model whose gate passed
    int8 = json.loads((export / "quantization.json").read_text())  # on by default, decided on validation
    served_f1 = int8["test/f1_macro_int8"] if int8["accepted"] else metrics["test/f1_macro"]
    assert mlflow.get_model_version("text-classifier-csv-small", "1").tags["served_with"] == \
        ("onnx:model.int8.onnx" if int8["accepted"] else "onnx:model.onnx")
    assert int(mlflow.get_model_version_by_alias("text-classifier-csv-small", "champion").version) == 1

    texts = small_frame["text"].tolist()[:6]
    cli = run([sys.executable, "-m", "pipeline.predict", "models/export", *texts[:2]], project).stdout
    assert [json.loads(line)["label"] for line in cli.splitlines()] == \
        predict(str(export), texts[:2])["label"].tolist()
    monkeypatch.chdir(project)  # predict reads the project's tracking store from params.yaml
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    labels = {source: predict(source, texts)["label"].tolist()
              for source in (str(export), str(export / "model.onnx"), "models:/text-classifier-csv-small@champion")}
    assert len({tuple(found) for found in labels.values()}) == 1, labels

    shown = run([sys.executable, "-m", "dvc", "exp", "show", "--json"], project).stdout
    assert "test/f1_macro" in shown

    again = run([sys.executable, "-m", "dvc", "repro"], project).stdout
    for stage in ("preprocess", "baseline", "resolve", "pretrain", "train", "evaluate", "export"):
        assert f"Stage '{stage}' didn't change, skipping" in again

    # The same experiment again with nothing cached (-f): the same weights and the same test metrics.
    weights = (project / "models/trained/model.safetensors").read_bytes()
    run([sys.executable, "-m", "dvc", "exp", "run", "-f", *TINY], project)
    repeated = json.loads((project / "reports/metrics.json").read_text())
    test_rows = json.loads((project / "reports/data_stats.json").read_text())["rows"]["test"]
    # the champion is scored as it serves (int8 by default, where accepted), on every test row: it trained on none
    assert repeated == {**metrics, "champion/version": 1.0, "champion/test/f1_macro": served_f1,
                        "champion/rows_known": 1.0, "champion/compared_rows": test_rows, "champion/trained_on_rows": 0.0,
                        "compared/test/f1_macro": metrics["test/f1_macro"]}
    assert f"Compared with the registry champion v1 on the same {test_rows} test rows, none of which v1 trained on" \
        in (export / "README.md").read_text()
    assert (project / "models/trained/model.safetensors").read_bytes() == weights
    assert json.loads((project / "reports/registry.json").read_text())["champion"] is False  # equal is not better

    # Only fine-tuning params change: preprocess and pretraining are cached; train runs again (Hydra front end).
    rerun = run([sys.executable, "-m", "pipeline", "gpu=cpu", "model=tiny", "data=csv", "data.path=data/small.csv",
                 "data.text_column=body", "data.label_column=topic", "train.max_epochs=1", "eval.gate.threshold=0",
                 "pretrain.steps=20", "train.lr=0.002"],
                project).stdout
    assert "Stage 'preprocess' didn't change, skipping" in rerun
    assert "Stage 'pretrain' didn't change, skipping" in rerun
    assert "Running stage 'train'" in rerun
    runs = mlflow.search_runs(experiment_ids=[tracked.info.experiment_id], filter_string="tags.stage = 'train'")
    assert len(runs) == 3
    assert len(mlflow.search_runs(experiment_ids=[tracked.info.experiment_id],
                                  filter_string="tags.stage = 'pretrain'")) == 2  # first run and the forced one
    second = json.loads((project / "reports/metrics.json").read_text())
    decision = json.loads((project / "reports/registry.json").read_text())
    assert decision["version"] == 3
    assert int(mlflow.get_model_version_by_alias("text-classifier-csv-small", "challenger").version) == 3
    assert second["champion/version"] == 1.0 and second["champion/test/f1_macro"] == served_f1
    int8 = json.loads((export / "quantization.json").read_text())
    ours = int8["compared/test/f1_macro_int8"] if int8["accepted"] else second["compared/test/f1_macro"]
    better = ours > served_f1  # both as they serve, on the same rows
    assert decision["champion"] is better  # a worse (or equal) challenger does not take the champion alias
    assert int(mlflow.get_model_version_by_alias("text-classifier-csv-small", "champion").version) == (3 if better else 1)


def test_unknown_model_option_fails_with_the_choices_and_writes_nothing(project):
    commit_all(project)
    result = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "model=nope"], project, check=False)
    assert result.returncode != 0
    assert "Could not find 'model/nope'" in result.stderr and "tiny" in result.stderr  # Hydra, via DVC
    wrapped = run([sys.executable, "-m", "pipeline", "model=nope"], project, check=False)
    assert wrapped.returncode == 2
    assert wrapped.stderr.strip() == ("error[config-unknown-option]: unknown option 'nope' for config group 'model' [model/ in conf] "
                                      "-> fix: use one of: bert, bert_chinese, bert_large, deberta_v3, distilbert, gpt2, lstm, minilm, "
                                      "multilingual_minilm, roberta, tiny, xlm_roberta")
    assert not (project / "data/processed").exists() and not (project / "reports").exists()


def test_named_card_needs_that_card_unless_plan_only(project):
    commit_all(project)
    refused = run([sys.executable, "-m", "dvc", "exp", "run", "resolve", "-S", "gpu=rtx3090"], project, check=False)
    assert refused.returncode != 0
    assert "gpu.plan_only=true" in refused.stderr and not (project / "reports/env.json").exists()

    run([sys.executable, "-m", "dvc", "exp", "run", "resolve", "-S", "gpu=rtx3090", "-S", "gpu.plan_only=true"],
        project)
    plan = yaml.safe_load((project / "reports/plan.yaml").read_text())
    assert plan["target"] == "rtx3090" and plan["settings"]["precision"] == "bf16-mixed"
    # the data decides the rest: BBC News' 1,684 training rows (duplicates dropped) are 106 steps an epoch: 2 epochs
    budget = yaml.safe_load((project / "reports/budget.yaml").read_text())
    assert budget["settings"]["max_epochs"] == 2 and "1684 training rows" in budget["reasons"]["max_epochs"]
    assert budget["gate"]["threshold"] == 0.9 and "packaged set" in budget["gate"]["reason"]
