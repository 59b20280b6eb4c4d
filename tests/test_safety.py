"""Safe loading (no model code, no pickled objects, corrupt files as one line) and no secrets in logs or cards."""

import json
import pickle
import re
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from transformers import BertConfig, BertForSequenceClassification

from conftest import ROOT, card_example
from pipeline.core import paths
from pipeline.core.errors import PipelineError, run_main
from pipeline.models.bpe import train_bpe
from pipeline.models.sources import build_model, build_tokenizer
from pipeline.core.redact import MASK, is_secret_key, redact
from pipeline.serving.inference import load_folder, load_model

LABELS = ["business", "sport"]
HF_TOKEN = "hf_" + "a1B2" * 9
GITHUB_TOKEN = "ghp_" + "x9Y8" * 9


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(["Shares rose after the results.", "The striker scored twice."] * 20, 300, 32)


def save_tiny(folder: Path, tokenizer) -> Path:
    """A 2-layer BERT classifier and its tokenizer, saved as the pipeline saves models (safetensors)."""
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, num_labels=len(LABELS), pad_token_id=tokenizer.pad_token_id)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def local_model(folder: Path, trust_remote_code: bool = False):
    return OmegaConf.create({"name": "mine", "source": "local", "path": str(folder), "max_seq_len": 32,
                             "trust_remote_code": trust_remote_code, "arch": {"family": "bert"}})


def pipeline_error(code: str, load) -> PipelineError:
    with pytest.raises(PipelineError) as raised:
        load()
    assert raised.value.code == code, raised.value
    return raised.value


# 1. A model's own code runs only with model.trust_remote_code.

CUSTOM_CODE = """
from pathlib import Path
Path({marker!r}).write_text("the model's code ran")

from transformers import BertConfig, BertForSequenceClassification

class CustomConfig(BertConfig):
    model_type = "custom-bert"

class CustomModel(BertForSequenceClassification):
    config_class = CustomConfig
"""


@pytest.fixture
def custom_code_folder(tmp_path, tokenizer, monkeypatch):
    """A model folder whose config.json maps the Auto classes to its own custom.py (which leaves a marker)."""
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "hf_modules"))  # where trusted code is copied
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = save_tiny(tmp_path / "custom", tokenizer)
    marker = tmp_path / "code-ran"
    (folder / "custom.py").write_text(CUSTOM_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="custom-bert", auto_map={"AutoConfig": "custom.CustomConfig",
                                                      "AutoModelForSequenceClassification": "custom.CustomModel"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


def test_a_model_that_needs_its_own_code_is_refused_without_running_it(custom_code_folder, tokenizer):
    folder, marker = custom_code_folder
    for load in (lambda: build_model(local_model(folder), LABELS, tokenizer),
                 lambda: build_tokenizer(local_model(folder), []),
                 lambda: load_model(folder)):
        err = pipeline_error("model-remote-code", load)
        assert str(folder) in str(err) and "auto_map" in err.where
        assert "-S model.trust_remote_code=true" in err.fix
    assert not marker.exists()


def test_a_model_that_needs_its_own_code_loads_when_trusted(custom_code_folder, tokenizer):
    from pipeline.predict import predict

    folder, marker = custom_code_folder
    pipeline_error("model-remote-code", lambda: predict(str(folder), ["Shares rose."]))
    assert not marker.exists()
    model = build_model(local_model(folder, trust_remote_code=True), LABELS, tokenizer)
    assert type(model).__name__ == "CustomModel" and model.config.num_labels == len(LABELS)
    assert marker.exists()
    # evaluate, export and predict load the trained model with the same setting (model.trust_remote_code)
    assert type(load_model(folder, trust_remote_code=True)).__name__ == "CustomModel"
    assert len(predict(str(folder), ["Shares rose.", "The striker scored."], trust_remote_code=True)) == 2


def test_hub_models_are_asked_for_no_code_and_tensor_only_weights(compose, tokenizer, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    calls = []

    def refuse(location, **kwargs):  # what transformers raises for a hub model of a type it does not know
        calls.append(kwargs)
        raise ValueError(f"The repository {location} contains custom code which must be executed to correctly load "
                         "the model. Please pass the argument `trust_remote_code=True` to allow custom code to be run.")

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", refuse)
    err = pipeline_error("model-remote-code", lambda: build_model(compose("model=bert").model, LABELS, tokenizer))
    assert calls[0]["trust_remote_code"] is False and calls[0]["weights_only"] is True
    assert err.where == "https://huggingface.co/bert-base-uncased"


# 2. Pickled weights load as plain tensors only.

class WritesMarker:
    """Unpickling this calls Path.write_text: what a malicious pytorch_model.bin would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "unpickled")


def test_pickled_weights_holding_objects_are_refused_without_unpickling_them(tmp_path, tokenizer):
    folder = save_tiny(tmp_path / "pickled", tokenizer)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    torch.save({"bert.embeddings.word_embeddings.weight": WritesMarker(marker)}, folder / "pytorch_model.bin")
    for load in (lambda: build_model(local_model(folder), LABELS, tokenizer), lambda: load_model(folder)):
        err = pipeline_error("model-unsafe-weights", load)
        assert err.where == str(folder / "pytorch_model.bin") and "safetensors" in err.fix
    assert not marker.exists()


@pytest.mark.parametrize("backend", ["onnx", "pytorch"])
def test_registered_models_are_read_without_running_their_code(tmp_path, monkeypatch, tokenizer, backend):
    from mlflow.tracking import MlflowClient

    from pipeline.evaluation.champion import score_champion
    from pipeline.evaluation.metrics import macro_f1
    from pipeline.predict import predict
    from pipeline.serving.onnx_export import export_onnx
    from pipeline.serving.pyfunc import log_pyfunc
    from pipeline.tracking.registry import CHAMPION, promote, register

    monkeypatch.chdir(tmp_path)
    folder = save_tiny(tmp_path / "export", tokenizer)
    export_onnx(folder, tokenizer, folder / "model.onnx", ["a short text", "and a longer text than that one"])
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("safe")).info.run_id
    version = register(client, "safe", log_pyfunc(client.tracking_uri, run_id, folder, backend), {})
    promote(client, "safe", version.version, compared_with=None)
    marker = tmp_path / "code-ran"
    code = [*tmp_path.rglob("served_model.py"), *tmp_path.rglob("code/*.py")]  # what a tampered store could hold
    assert code
    for file in code:
        file.write_text(f"open({str(marker)!r}, 'w').close()\n")
    for pickled in tmp_path.rglob("python_model.pkl"):  # older versions were pickled
        pickled.write_bytes(pickle.dumps(WritesMarker(marker)))
    texts = ["Shares rose after the results.", "The striker scored twice."]
    expected = predict(str(folder), texts)["label"].tolist()
    names, targets = ["LABEL_0", "LABEL_1"], torch.tensor([0, 1])  # save_tiny's config names no labels
    from_folder = macro_f1(torch.tensor([names.index(label) for label in expected]), targets, len(names))
    scored = score_champion(client, "safe", texts, targets, targets, names)
    assert (scored["champion/version"], scored["champion/test/f1_macro"]) == (float(version.version), from_folder)
    assert predict(f"models:/safe@{CHAMPION}", texts)["label"].tolist() == expected
    assert not marker.exists()


def test_pickled_weights_of_plain_tensors_still_load(tmp_path, tokenizer):
    folder = save_tiny(tmp_path / "pickled", tokenizer)
    state = load_model(folder).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    assert torch.equal(load_model(folder).classifier.weight, state["classifier.weight"])


# 3. A truncated or corrupt file is one line naming it and the stage that re-creates it.

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("folder, stage", [(paths.TRAINED, "train"), (paths.EXPORT, "export")])
def test_a_truncated_pipeline_model_names_the_file_and_the_stage_to_rerun(tmp_path, monkeypatch, tokenizer,
                                                                          folder, stage):
    monkeypatch.chdir(tmp_path)
    save_tiny(folder, tokenizer)
    truncate(folder / "model.safetensors")
    err = pipeline_error("model-corrupt", lambda: load_folder(folder))
    assert err.where == str(folder / "model.safetensors") and f"dvc repro -f -s {stage}" in err.fix


def test_truncated_pretrained_weights_name_the_pretrain_stage(tmp_path, monkeypatch, tokenizer, compose):
    monkeypatch.chdir(tmp_path)
    save_tiny(paths.PRETRAINED, tokenizer)
    truncate(paths.PRETRAINED / "model.safetensors")
    scratch = compose("model=tiny").model
    err = pipeline_error("model-corrupt", lambda: build_model(scratch, LABELS, tokenizer, start_from=paths.PRETRAINED))
    assert "dvc repro -f -s pretrain" in err.fix


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_truncated_local_model_is_one_error_line(tmp_path, tokenizer, capsys, name):
    folder = save_tiny(tmp_path / "local", tokenizer)
    truncate(folder / name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        run_main(lambda: build_model(local_model(folder), LABELS, tokenizer))
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error[model-corrupt]") and str(folder / name) in line and "re-download" in line


# 4. Secrets are masked in what is logged and in the model card.

@pytest.mark.parametrize("key", ["hf_token", "HF_TOKEN", "HFToken", "token", "password", "db.password", "passwd",
                                 "client_secret", "clientSecret", "api_key", "apiKey", "APIKey", "api-key",
                                 "aws_secret_access_key", "private_key", "credentials", "basic_auth",
                                 "MLFLOW_TRACKING_PASSWORD", "X-Amz-Signature", "tracking/token"])
def test_secret_key_names(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "num_tokens", "token_type_ids", "pad_token_id", "tokenizer",
                                 "password_file", "sort_key", "key", "authors", "secretary", "keyword", "uri"])
def test_names_that_only_contain_a_secret_word_are_kept(key):
    assert not is_secret_key(key)


@pytest.mark.parametrize("text, expected", [
    ("http://alice:s3cret@mlflow.example.com:5000/api", f"http://alice:{MASK}@mlflow.example.com:5000/api"),
    ("postgresql://mlflow:p%40ss@db:5432/mlflow", f"postgresql://mlflow:{MASK}@db:5432/mlflow"),
    ("https://host/data.csv?token=abc123&rows=10", f"https://host/data.csv?token={MASK}&rows=10"),
    (f"pass {HF_TOKEN} here", f"pass {MASK} here"),
    (f"https://{GITHUB_TOKEN}@github.com/me/data.git", f"https://{MASK}@github.com/me/data.git"),
    ("AKIAIOSFODNN7EXAMPLE", MASK),
    ("sk-proj-" + "Ab3_" * 8, MASK),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ("bert-base-uncased", "bert-base-uncased"),
])
def test_secrets_inside_values_are_masked(text, expected):
    assert redact({"value": text}) == {"value": expected}


def test_redact_masks_nested_secrets_and_keeps_everything_else():
    config = {"tracking": {"uri": "sqlite:///mlflow.db", "token": "abc"},
              "data": {"path": "data/x.csv", "auth": {"user": "me", "password": "pw"}, "hub_token": None},
              "model": {"max_tokens": 512, "use_auth_token": True, "labels": ["a", HF_TOKEN]}}
    assert redact(config) == {
        "tracking": {"uri": "sqlite:///mlflow.db", "token": MASK},
        "data": {"path": "data/x.csv", "auth": MASK, "hub_token": None},
        "model": {"max_tokens": 512, "use_auth_token": True, "labels": ["a", MASK]}}
    assert config["tracking"]["token"] == "abc"  # the input is not changed


def test_the_model_card_masks_secrets_in_the_config(compose):
    from pipeline.stages.export import model_card

    cfg = compose("model=tiny", "tracking.uri=http://alice:s3cret@mlflow.example.com",
                  f"data.path='https://example.com/news.csv?token={HF_TOKEN}'")
    card = model_card(cfg, **card_example(LABELS))
    assert "s3cret" not in card and HF_TOKEN not in card
    assert "uri: http://alice:***@mlflow.example.com" in card and "path: https://example.com/news.csv?token=***" in card


def test_pretrain_logs_params_and_tags_with_secrets_masked(tmp_path, monkeypatch, compose, tokenizer):
    from mlflow.tracking import MlflowClient

    import pipeline.training.pretrain
    from pipeline.stages.pretrain import pretrain

    monkeypatch.setattr(pipeline.training.pretrain, "run_tags", lambda cfg: {"server": "http://bob:pw123@host", "model": "tiny"})
    monkeypatch.setattr(pipeline.training.pretrain, "pretrain_mlm", lambda *args, **kwargs: {})  # no fit needed here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    tokenizer.save_pretrained(paths.TOKENIZER)
    Path("corpus.txt").write_text("some text\n")
    cfg = compose("model=tiny", "pretrain.steps=1", "pretrain.corpus=corpus.txt", "tracking.uri=sqlite:///mlflow.db")
    OmegaConf.update(cfg, "pretrain.hf_token", HF_TOKEN, force_add=True)  # a key a later version might add
    summary = pretrain(cfg, {"settings": {"accelerator": "cpu", "precision": "32-true", "deterministic": True}})
    run = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(summary["mlflow_run_id"])
    assert run.data.tags["server"] == f"http://bob:{MASK}@host" and run.data.tags["stage"] == "pretrain"
    assert run.data.params["pretrain/hf_token"] == MASK and run.data.params["pretrain/steps"] == "1"
    assert HF_TOKEN not in str(run.data) and "pw123" not in str(run.data)


# 5. The MLflow UI, tracking server and model server in README listen on this machine only.

def test_readme_mlflow_ui_and_server_bind_to_localhost():
    blocks = re.findall(r"```[^\n]*\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    commands = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()
                if re.search(r"\bmlflow (ui|server|models serve)\b", line)]
    assert {"ui", "server", "models serve"} <= {re.search(r"\bmlflow (ui|server|models serve)\b", c)[1] for c in commands}
    for command in commands:
        assert re.search(r"(--host|-h)[ =]127\.0\.0\.1\b", command), f"README: bind it to localhost: {command.strip()}"
