"""Reading the data before training: the script mix (worked by hand), the stop for a model that cannot read the text
(Chinese with the packaged English tokenizer, not English; model=tiny reads it), and a baseline that reads
scripts without spaces."""

import json

import pytest
import torch

from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.data.readability import problem
from pipeline.data.scripts import script_mix, unspaced
from pipeline.evaluation.baseline import tfidf_baseline, tfidf_model
from pipeline.stages.preprocess import preprocess

TEAMS = ["北京国安", "上海申花", "广州恒大", "山东泰山", "深圳队", "天津队"]
RESULTS = ["昨晚赢得了比赛", "以二比一获胜", "在主场战平对手", "输掉了关键的比赛", "打进了三个进球"]
COMPANIES = ["招商银行", "中国平安", "贵州茅台", "万科集团", "格力电器", "阿里巴巴"]
MOVES = ["的股价今天上涨了", "发布了季度财报", "的利润大幅增长", "宣布回购股票", "的市值再创新高"]


def chinese_rows() -> list[tuple[int, str, str]]:
    """(i + j, text, label) for 30 sports and 30 finance sentences: a name and what happened to it."""
    return [(i + j, f"{name}{event}。", label) for label, names, events in
            (("体育", TEAMS, RESULTS), ("财经", COMPANIES, MOVES))
            for i, name in enumerate(names) for j, event in enumerate(events)]


def test_script_mix_counts_letters_by_script():
    mix = script_mix(["abc 中文!", "日本語 ok 42"])  # letters: a b c o k (latin 5), 中 文 日 本 語 (cjk 5)
    assert mix == {"letters": {"latin": 0.5, "cjk": 0.5}, "unspaced_share": 0.5, "texts_read": 2}
    assert unspaced(["这家餐厅的菜很好吃"]) and not unspaced(["The food was good", "很好"])  # 2 of 16 letters


def test_the_baseline_reads_a_script_without_spaces_where_word_tokens_cannot():
    rows = chinese_rows()
    labels = ["体育", "财经"]

    def part(keep):
        chosen = [(text, labels.index(label)) for k, text, label in rows if keep(k)]
        return [text for text, _ in chosen], torch.tensor([target for _, target in chosen])

    train, held_out = part(lambda k: k % 3 != 0), part(lambda k: k % 3 == 0)  # every name is in train
    assert tfidf_model(train[0]).steps[0][1].analyzer == "char"
    scores = tfidf_baseline(train, held_out, held_out, 2)
    assert scores["baseline/test/f1_macro"] == 1.0
    # word tokens: each sentence is one "word" never seen in training, so the model answers one class for all
    words = tfidf_model(["a word", "another word"]).fit(train[0], train[1].numpy())
    assert words.steps[0][1].analyzer == "word"
    assert len(set(words.predict(held_out[0]))) == 1


@pytest.fixture
def chinese_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = chinese_rows()
    import pandas as pd

    pd.DataFrame({"text": [text for _, text, _ in rows], "label": [label for _, _, label in rows]}).to_csv(
        "news.csv", index=False)
    return ["data=csv", "data.path=news.csv"]


def test_the_english_model_stops_on_chinese_before_anything_is_written(chinese_csv, compose, capsys):
    with pytest.raises(PipelineError) as stopped:
        preprocess(compose(*chinese_csv))
    message = str(stopped.value)
    assert stopped.value.code == "data-unreadable" and "\n" not in message
    assert "model minilm cannot read this text" in message and "[UNK]" in message and "cjk 100%" in message
    assert "model=bert_chinese" in message and "model=tiny" in message and "data.unreadable=warn" in message
    assert not paths.PROCESSED.exists() and not paths.DATA_STATS.exists()


def test_the_stop_can_be_overridden_and_model_tiny_reads_chinese(chinese_csv, compose, capsys):
    preprocess(compose(*chinese_csv, "data.unreadable=warn"))
    assert "warning[data-unreadable-continuing]" in capsys.readouterr().err
    english = json.loads(paths.DATA_STATS.read_text())["tokens"]["train"]
    assert english["unknown_share"] > 0.5  # most characters are [UNK] to MiniLM's English WordPiece

    preprocess(compose(*chinese_csv, "model=tiny"))  # its byte-level BPE is trained on these texts
    tiny = json.loads(paths.DATA_STATS.read_text())
    assert tiny["tokens"]["train"]["unknown_share"] == 0 and tiny["tokens"]["train"]["tokens_per_character"] < 3
    assert tiny["scripts"]["train"]["unspaced_share"] > 0.9


def test_english_text_passes_and_a_byte_level_blow_up_stops(tmp_path, monkeypatch, compose, small_frame):
    monkeypatch.chdir(tmp_path)
    small_frame.to_csv("news.csv", index=False)
    cfg = compose("data=csv", "data.path=news.csv")
    stats = preprocess(cfg)
    assert stats["tokens"]["train"]["unknown_share"] < 0.001 and problem(stats["tokens"]["train"], cfg.data) is None
    byte_level = {"unknown_share": None, "tokens_per_character": 4.5}  # no [UNK]: counted in tokens per character
    assert "4.50 tokens per character" in problem(byte_level, cfg.data)
