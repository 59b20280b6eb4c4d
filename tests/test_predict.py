"""`python -m pipeline.predict` on bad input: one error line with a code and exit 2, never a traceback."""

import sys

import pytest
from transformers import BertConfig, BertForSequenceClassification

from pipeline.core.errors import run_main
from pipeline.models.bpe import train_bpe
from pipeline.predict import main


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    tokenizer = train_bpe(["Shares rose after the results.", "The striker scored twice."] * 20, 300, 32)
    folder = tmp_path_factory.mktemp("model")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2, pad_token_id=tokenizer.pad_token_id)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def predict_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["python -m pipeline.predict", *args])
    code = 0
    try:
        run_main(main)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("content, code, said", [
    (None, "predict-input-unreadable", "no such file"),
    (b"", "predict-no-text", "the file is empty"),
    (b"text\n", "predict-no-text", "a header but no rows"),
    ("text\nCaf\u00e9 prices rose\n".encode("cp1252"), "predict-input-unreadable", "not UTF-8 (byte 0xe9 on line 2)"),
    (b'text\n"an unclosed quote\n', "predict-input-unreadable", "not a well-formed CSV"),
])
def test_a_bad_input_file_is_one_error_line(model_folder, tmp_path, monkeypatch, capsys, content, code, said):
    path = tmp_path / "texts.csv"
    if content is not None:
        path.write_bytes(content)
    exit_code, out, err = predict_cli(monkeypatch, capsys, str(model_folder), "--input", str(path))
    assert exit_code == 2 and out == ""
    assert err.startswith(f"error[{code}]: ") and said in err and str(path) in err and len(err.splitlines()) == 1


def test_a_folder_without_a_model_or_a_registry_without_it_is_one_error_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    exit_code, _, err = predict_cli(monkeypatch, capsys, str(tmp_path / "empty"), "some text")
    assert exit_code == 2 and err.startswith("error[predict-model-missing]: ") and "no config.json" in err

    monkeypatch.chdir(tmp_path)  # no params.yaml here: MLFLOW_TRACKING_URI names the store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    exit_code, _, err = predict_cli(monkeypatch, capsys, "models:/nope@champion", "some text")
    last = err.strip().splitlines()[-1]  # above it, MLflow's own log lines (creating the store's tables)
    assert exit_code == 2 and last.startswith("error[predict-model-missing]: ") and "models:/nope@champion" in last
    assert "Traceback" not in err


def test_an_empty_text_is_one_error_line_naming_it(model_folder, tmp_path, monkeypatch, capsys):
    path = tmp_path / "texts.csv"
    path.write_text('text\n"Shares rose"\n&nbsp;\n', encoding="utf-8")
    exit_code, out, err = predict_cli(monkeypatch, capsys, str(model_folder), "--input", str(path))
    assert exit_code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error[predict-bad-text]: text 2 is empty once HTML entities and whitespace are read")
    assert str(path) in err


def test_good_input_still_predicts(model_folder, tmp_path, monkeypatch, capsys):
    path = tmp_path / "texts.csv"
    path.write_text('text\n"Shares rose, sharply"\n\n', encoding="utf-8-sig")  # with a byte-order mark, as Excel saves
    exit_code, out, err = predict_cli(monkeypatch, capsys, str(model_folder), "--input", str(path))
    assert exit_code == 0 and len(out.splitlines()) == 1 and '"text": "Shares rose, sharply"' in out
