"""Tokenize split texts in one batched pass: each text whole, then cut to max_len by data.long_text
(data.text_windows: truncated, head and tail, or overlapping windows, each window a row with its text's
`document` index), and measured: how the tokenizer covers the text and what the cut loses (coverage).

Tokenized splits are cached in .cache/tokenized/ under a hash of the tokenizer, the cut (length, side and
strategy) and the split's texts and labels: a re-run, or another model with the same tokenizer
(bert-base-uncased and MiniLM share one), reuses them. The hash is also the split's datasets
fingerprint, so the same data gives byte-identical data/processed files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value, load_from_disk
from transformers import PreTrainedTokenizerBase

from pipeline.data.label_sets import labels_of
from pipeline.data.lengths import covering
from pipeline.data.normalise import PAIR
from pipeline.data.pairs import text_columns
from pipeline.data.text_windows import windows

CACHE = Path(".cache/tokenized")
COVERAGE = "coverage.2.json"  # in each cache entry: the split's coverage (Counts.summary); the number
                               # grows when the summary gains a figure, so older entries are filled again


def to_dataset(parts: dict[str, pd.DataFrame], labels: list[str], multi_label: bool = False) -> DatasetDict:
    """Frames with text/label (and text_pair) columns to a DatasetDict with integer `labels`, or for `multi_label`
    a 0/1 float per label (in `labels` order: what binary cross-entropy reads)."""
    texts = text_columns(next(iter(parts.values())).columns)
    target = List(Value("float32"), length=len(labels)) if multi_label else ClassLabel(names=labels)
    features = Features({**{column: Value("string") for column in texts}, "labels": target})
    return DatasetDict({
        name: Dataset.from_dict({**{column: list(frame[column]) for column in texts},
                                 "labels": multi_hot(frame["label"], labels) if multi_label else list(frame["label"])},
                                features=features)
        for name, frame in parts.items()
    })


def multi_hot(sets: pd.Series, labels: list[str]) -> list[list[float]]:
    """Each joined label set as 1.0 for the labels it holds, 0.0 for the others."""
    index = {label: i for i, label in enumerate(labels)}
    rows = []
    for joined in sets:
        row = [0.0] * len(labels)
        for label in labels_of(joined):
            row[index[label]] = 1.0
        rows.append(row)
    return rows


def is_multi_label(split: Dataset) -> bool:
    """Whether a processed split's labels are label sets (task=multi_label)."""
    return isinstance(split.features["labels"], List)


def tokenize(dataset: DatasetDict, tokenizer: PreTrainedTokenizerBase, max_len: int, long_text: str = "truncate",
             cache: Path = CACHE) -> tuple[DatasetDict, dict[str, dict]]:
    """Add input_ids/attention_mask (and token_type_ids where the tokenizer makes them), cut to `max_len` by
    `long_text` on the tokenizer's truncation side (chunks: a row per window, with `document`); also return
    each split's coverage."""
    tokenized, coverage = {}, {}
    identity = tokenizer_identity(tokenizer, max_len, long_text)  # before any call: calls change backend settings
    for name, split in dataset.items():
        entry = cache / cache_key(split, identity)
        if not (entry / COVERAGE).exists():
            _fill(entry, split, tokenizer, max_len, long_text, name)
        tokenized[name] = load_from_disk(str(entry))
        coverage[name] = json.loads((entry / COVERAGE).read_text())
    return DatasetDict(tokenized), coverage


def _fill(entry: Path, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_len: int, long_text: str,
          name: str) -> None:
    """Tokenize and cut `split` into the cache entry, with its coverage beside it."""
    counts = Counts(tokenizer, max_len)

    def cut(batch: dict, indices: list[int]) -> dict:
        texts = text_columns(batch)
        whole = tokenizer(*(batch[column] for column in texts), truncation=False, return_special_tokens_mask=True,
                          verbose=False)
        inputs = [key for key in whole if key not in ("special_tokens_mask", "attention_mask")]
        rows = {key: [] for key in (*texts, "labels", *inputs, "attention_mask", "document")}
        for i, special in enumerate(whole["special_tokens_mask"]):
            sequences = whole.sequence_ids(i) if PAIR in batch else None
            parts = windows(special, max_len, long_text, tokenizer.truncation_side, sequences)
            counts.add([batch[column][i] for column in texts], whole["input_ids"][i], special, parts)
            for positions in parts:
                for key in inputs:
                    rows[key].append([whole[key][i][p] for p in positions])
                rows["attention_mask"].append([1] * len(positions))
                for column in (*texts, "labels"):
                    rows[column].append(batch[column][i])
                rows["document"].append(indices[i])
        if long_text != "chunks":
            del rows["document"]
        return rows

    encoded = split.map(cut, batched=True, with_indices=True, remove_columns=split.column_names,
                        desc=f"Tokenizing {name}", new_fingerprint=entry.name)
    encoded = encoded.cast_column("labels", split.features["labels"])
    staging = entry.with_name(f"{entry.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    encoded.save_to_disk(str(staging))
    (staging / COVERAGE).write_text(json.dumps(counts.summary()))
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)


class Counts:
    """What the tokenizer made of a split's texts and what the cut kept, text by text."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_len: int):
        self.tokenizer, self.unk_id, self.max_len, self.lengths = tokenizer, tokenizer.unk_token_id, max_len, []
        self.fragment_ids, self.whole_ids = set(), set()
        self.characters = self.words = self.tokens = self.unknown = self.fragments = 0
        self.rows = self.cut = self.cut_tokens = self.lost = 0

    def add(self, texts: list[str], ids: list[int], special: list[int], parts: list[list[int]]) -> None:
        body = [token for token, is_special in zip(ids, special) if not is_special]
        self.characters += sum(len(text) for text in texts)
        self.words += sum(len(text.split()) for text in texts)
        self.tokens += len(body)
        self.unknown += body.count(self.unk_id) if self.unk_id is not None else 0
        self._classify(set(body) - self.fragment_ids - self.whole_ids)
        self.fragments += sum(token in self.fragment_ids for token in body)
        self.lengths.append(len(ids))
        self.rows += len(parts)
        if len(ids) > self.max_len:
            kept = len({p for positions in parts for p in positions if not special[p]})
            self.cut, self.cut_tokens, self.lost = self.cut + 1, self.cut_tokens + len(body), self.lost + len(body) - kept

    def _classify(self, new_ids: set[int]) -> None:
        """File tokens not seen before as fragments (a piece of a character: a byte that a byte-level or
        byte-fallback tokenizer falls back to, decoding alone to U+FFFD) or whole."""
        for token in new_ids:
            (self.fragment_ids if "\ufffd" in self.tokenizer.decode([token]) else self.whole_ids).add(token)

    def summary(self) -> dict:
        """Per split: texts, model rows (windows), characters, words (split at spaces) and tokens (special
        tokens left out), the share of tokens the tokenizer did not know ([UNK]; null for a tokenizer without
        one, such as byte-level BPE) and of tokens that are pieces of a character, tokens per character and per
        word, the texts longer than max_len and the share of their tokens the model never sees (none where
        chunks cover them), and the length in tokens (special tokens in) that covers 50, 90, 95 and 100 % of
        the texts."""
        texts, ordered = len(self.lengths), sorted(self.lengths)
        return {"texts": texts, "rows": self.rows, "characters": self.characters, "words": self.words,
                "tokens": self.tokens,
                "unknown_share": round(self.unknown / max(self.tokens, 1), 6) if self.unk_id is not None else None,
                "fragment_share": round(self.fragments / max(self.tokens, 1), 6),
                "tokens_per_character": round(self.tokens / max(self.characters, 1), 4),
                "tokens_per_word": round(self.tokens / max(self.words, 1), 4),
                "cut": self.cut, "cut_share": round(self.cut / max(texts, 1), 4),
                "lost_share_of_cut": round(self.lost / max(self.cut_tokens, 1), 4),
                **{f"length_p{share}": covering(ordered, share / 100) for share in (50, 90, 95, 100)},
                "max_seq_len": self.max_len}


def tokenizer_identity(tokenizer: PreTrainedTokenizerBase, max_len: int, long_text: str = "truncate") -> str:
    """The tokenizer's full definition and how it cuts texts."""
    vocabulary = (tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast
                  else json.dumps(sorted(tokenizer.get_vocab().items())))
    return json.dumps([vocabulary, max_len, tokenizer.truncation_side, long_text])


def cache_key(split: Dataset, identity: str) -> str:
    """A hash of everything a tokenized split depends on."""
    digest = hashlib.sha256(identity.encode())
    digest.update(json.dumps(getattr(split.features["labels"], "names", None)).encode())  # label sets: the 0/1 rows
    pairs = split[PAIR][:] if PAIR in split.column_names else None
    for i, (text, label) in enumerate(zip(split["text"][:], split["labels"][:])):  # whole columns: per row is slow
        digest.update(f"{label}\t{text}\n".encode() if pairs is None else f"{label}\t{text}\t{pairs[i]}\n".encode())
    return digest.hexdigest()[:32]
