"""Reading the data before training: the script mix and the signs of a tokenizer that cannot read (worked by hand),
the stop for a model that cannot read the text (Chinese and Russian with the packaged English tokenizer, not
English; model=tiny reads Chinese), and a baseline that reads scripts without spaces."""

import json

import pandas as pd
import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from omegaconf import OmegaConf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from conftest import cpu_env_report
from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.data.readability import check_readable, problem
from pipeline.data.scripts import script_mix, unspaced
from pipeline.data.tokenize import tokenize
from pipeline.evaluation.baseline import tfidf_baseline, tfidf_model
from pipeline.stages.preprocess import preprocess

TEAMS = ["北京国安", "上海申花", "广州恒大", "山东泰山", "深圳队", "天津队"]
RESULTS = ["昨晚赢得了比赛", "以二比一获胜", "在主场战平对手", "输掉了关键的比赛", "打进了三个进球"]
COMPANIES = ["招商银行", "中国平安", "贵州茅台", "万科集团", "格力电器", "阿里巴巴"]
MOVES = ["的股价今天上涨了", "发布了季度财报", "的利润大幅增长", "宣布回购股票", "的市值再创新高"]
CLUBS = ["Спартак", "Зенит", "Локомотив", "Динамо", "Рубин", "Ростов"]
MATCHES = ["выиграл вчерашний матч", "победил со счетом два один", "сыграл вничью дома", "проиграл важную игру",
           "забил три гола"]
FIRMS = ["Сбербанк", "Газпром", "Лукойл", "Яндекс", "Магнит", "Роснефть"]
DEALS = ["поднял цены на акции", "опубликовал квартальный отчет", "сильно увеличил прибыль", "объявил выкуп акций",
         "достиг новой рыночной стоимости"]
THRESHOLDS = OmegaConf.create({"max_unknown_share": 0.05, "max_fragment_share": 0.2, "max_tokens_per_word": 3.5})


def chinese_rows() -> list[tuple[int, str, str]]:
    """(i + j, text, label) for 30 sports and 30 finance sentences: a name and what happened to it."""
    return news_rows(("体育", TEAMS, RESULTS), ("财经", COMPANIES, MOVES), template="{name}{event}。")


def news_rows(*classes: tuple[str, list[str], list[str]], template: str) -> list[tuple[int, str, str]]:
    """(i + j, text, label): each class's names, each with each of its events."""
    return [(i + j, template.format(name=name, event=event), label) for label, names, events in classes
            for i, name in enumerate(names) for j, event in enumerate(events)]


def to_csv(rows: list[tuple[int, str, str]]) -> list[str]:
    pd.DataFrame({"text": [text for _, text, _ in rows], "label": [label for _, _, label in rows]}).to_csv(
        "news.csv", index=False)
    return ["data=csv", "data.path=news.csv"]


def test_script_mix_counts_letters_by_script():
    mix = script_mix(["abc 中文!", "日本語 ok 42"])  # letters: a b c o k (latin 5), 中 文 日 本 語 (han 5)
    assert mix == {"letters": {"latin": 0.5, "han": 0.5}, "unspaced_share": 0.5, "texts_read": 2}
    assert unspaced(["这家餐厅的菜很好吃"]) and not unspaced(["The food was good", "很好"])  # 2 of 16 letters
    # 16 letters: latin a b c o k, han 中 文 日 本 語, kana ひ ら が な, hangul 한 국; unspaced: han and kana
    assert script_mix(["abc 中文!", "日本語 ok 42", "ひらがな 한국"])["letters"] == {
        "latin": 0.3125, "han": 0.3125, "kana": 0.25, "hangul": 0.125}


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE that knows the 256 bytes and no merges: every byte of the UTF-8 text is a token."""
    backend = Tokenizer(models.BPE({byte: i for i, byte in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def letter_tokenizer() -> PreTrainedTokenizerFast:
    """A WordPiece that knows the Russian letters and no word: it spells every word out."""
    letters = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
    vocab = {"[UNK]": 0, **{piece: i + 1 for i, piece in enumerate([*letters, *(f"##{c}" for c in letters)])}}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def coverage_of(text: str, tokenizer: PreTrainedTokenizerFast, cache) -> dict:
    features = Features({"text": Value("string"), "labels": ClassLabel(names=["a"])})
    data = DatasetDict({"train": Dataset.from_dict({"text": [text], "labels": [0]}, features=features)})
    return tokenize(data, tokenizer, 64, cache=cache)[1]["train"]


def test_pieces_of_characters_and_words_spelled_out_are_counted_and_stop(tmp_path):
    # "ab 中": a, b, then the space and the 3 UTF-8 bytes of 中 (E4 B8 AD): 6 tokens, the last 3 pieces of a
    # character, for 4 characters and 2 words
    text = "ab 中"
    bytes_read = coverage_of(text, byte_tokenizer(), tmp_path)
    assert (bytes_read["unknown_share"], bytes_read["fragment_share"], bytes_read["tokens_per_character"],
            bytes_read["tokens_per_word"]) == (None, 0.5, 1.5, 3.0)
    # a third of its letters (中) are han: unspaced, so tokens a word would not count; pieces of characters do
    assert problem(bytes_read, script_mix([text]), THRESHOLDS) == (
        "50% of its tokens are pieces of a character (data.max_fragment_share 0.2): the text falls apart into bytes")
    # "мама мыла раму": 3 words of 4 letters, each spelled м ##а ##м ##а: 12 tokens, none unknown, 14 characters
    text = "мама мыла раму"
    spelled = coverage_of(text, letter_tokenizer(), tmp_path)
    assert (spelled["unknown_share"], spelled["fragment_share"], spelled["tokens_per_character"],
            spelled["tokens_per_word"]) == (0.0, 0.0, round(12 / 14, 4), 4.0)
    assert problem(spelled, script_mix([text]), THRESHOLDS) == (
        "it makes 4.0 tokens a word (data.max_tokens_per_word 3.5): it spells the words out")
    # the same 4 tokens a word is no sign in Chinese, which has no spaces between words, nor in Latin letters,
    # where they are log lines, codes or URLs
    assert problem(spelled, script_mix(["这家餐厅的菜很好吃"]), THRESHOLDS) is None
    assert problem(spelled, script_mix(["ERROR 2026-12-06T23:56:29Z svc=auth req=ab12cd34 retry=3"]), THRESHOLDS) is None


def test_the_model_suggested_follows_the_script(tmp_path):
    unreadable = {"unknown_share": 0.6, "fragment_share": 0.0, "tokens_per_word": 1.0}
    model, data = OmegaConf.create({"name": "minilm"}), OmegaConf.merge(THRESHOLDS, {"unreadable": "stop"})

    def suggestion(text: str) -> str:
        with pytest.raises(PipelineError) as stopped:
            check_readable(unreadable, script_mix([text]), [text], letter_tokenizer(), model, data)
        return stopped.value.fix

    assert suggestion("这家餐厅的菜很好吃").startswith("use model=bert_chinese (Chinese), model=xlm_roberta")
    # mostly kanji (11 han letters, 5 kana), yet Japanese; Korean
    for japanese_or_korean in ("東京都議会選挙の結果が発表された", "이 식당 음식은 맛있어요"):
        assert suggestion(japanese_or_korean).startswith("use model=xlm_roberta or multilingual_minilm")


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
    cpu_env_report()
    return to_csv(chinese_rows())


def test_the_english_model_stops_on_chinese_before_anything_is_written(chinese_csv, compose, capsys):
    with pytest.raises(PipelineError) as stopped:
        preprocess(compose(*chinese_csv))
    message = str(stopped.value)
    assert stopped.value.code == "data-unreadable" and "\n" not in message
    assert "model minilm cannot read this text" in message and "% of its tokens are [UNK]" in message and "han 100%" in message
    assert "; e.g. '" in message and "-> [UNK]" in message  # the text read worst, and its tokens
    assert "model=bert_chinese" in message and "model=tiny" in message and "data.unreadable=warn" in message
    assert not paths.PROCESSED.exists() and not paths.DATA_STATS.exists()


def test_the_stop_can_be_overridden_and_model_tiny_reads_chinese(chinese_csv, compose, capsys):
    preprocess(compose(*chinese_csv, "data.unreadable=warn"))
    assert "warning[data-unreadable-continuing]" in capsys.readouterr().err
    english = json.loads(paths.DATA_STATS.read_text())["tokens"]["train"]
    assert english["unknown_share"] > 0.5  # most characters are [UNK] to MiniLM's English WordPiece

    preprocess(compose(*chinese_csv, "model=tiny"))  # its byte-level BPE is trained on these texts
    tiny = json.loads(paths.DATA_STATS.read_text())
    assert tiny["tokens"]["train"]["unknown_share"] == 0 and tiny["tokens"]["train"]["fragment_share"] < 0.2
    assert tiny["scripts"]["train"]["unspaced_share"] > 0.9


def test_english_text_passes(tmp_path, monkeypatch, compose, small_frame):
    monkeypatch.chdir(tmp_path)
    cpu_env_report()
    small_frame.to_csv("news.csv", index=False)
    cfg = compose("data=csv", "data.path=news.csv")
    stats = preprocess(cfg)
    train = stats["tokens"]["train"]
    assert train["unknown_share"] < 0.001 and train["fragment_share"] == 0 and train["tokens_per_word"] < 2
    assert problem(train, stats["scripts"]["train"], cfg.data) is None


def test_the_english_model_stops_on_russian_it_would_spell_out(tmp_path, monkeypatch, compose):
    monkeypatch.chdir(tmp_path)
    cpu_env_report()
    rows = news_rows(("спорт", CLUBS, MATCHES), ("финансы", FIRMS, DEALS), template="{name} {event}.")
    with pytest.raises(PipelineError) as stopped:
        preprocess(compose(*to_csv(rows)))
    message = str(stopped.value)
    assert stopped.value.code == "data-unreadable" and "tokens a word (data.max_tokens_per_word 3.5)" in message
    assert "cyrillic 100%" in message and stopped.value.fix.startswith("use model=xlm_roberta")
    assert not paths.PROCESSED.exists() and not paths.DATA_STATS.exists()
