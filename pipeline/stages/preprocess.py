"""Stage preprocess: load, clean, split and tokenize the data; save it with the tokenizer and stats.

Bad data stops the stage with one error line before any tokenizing, and nothing is written; so does text
the model's tokenizer cannot read (data.readability), after tokenizing and before anything is saved.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import atomic_dir, write_json
from pipeline.core.errors import PipelineError, run_main
from pipeline.core.outputs import read_json
from pipeline.data.clean import clean
from pipeline.data.label_sets import (check_separator, check_source, empty_sets_allowed, names_in, rows_per_label,
                                      separator)
from pipeline.data.labels import label_order
from pipeline.data.lengths import STEP, covering_length
from pipeline.data.normalise import PAIR
from pipeline.data.pairs import check_pair_settings, check_pair_tokenizer, every_text, examples
from pipeline.data.readability import check_readable
from pipeline.data.scripts import script_mix
from pipeline.data.sources import load_frame
from pipeline.data.split import split
from pipeline.data.tokenize import to_dataset, tokenize
from pipeline.gpu.policy import affordable_length
from pipeline.models.sources import build_tokenizer, set_truncation

BATCH = 10_000  # texts tokenized at once to measure their lengths: bounds the memory of a large file


def preprocess(cfg: DictConfig) -> dict:
    """Write data/processed (dataset, tokenizer, labels) and return the data stats."""
    check_pair_settings(cfg.data, cfg.model)
    multi_label = cfg.task == "multi_label"
    if multi_label:
        check_source(cfg.data)
    frame = load_frame(cfg.data, multi_label)
    source_labels = frame.attrs.get("labels")
    frame, cleaning = clean(frame, empty_label_ok=empty_sets_allowed(cfg.data, multi_label))
    if frame.empty:
        raise PipelineError(
            "data-no-rows", f"no usable rows left after cleaning ({cleaning['rows_in']} rows read)", str(cfg.data.path),
            "check data.text_column and data.label_column point at the right columns")
    if multi_label and cfg.data.source == "csv":  # lists (jsonl, parquet, hf) hold their labels as they are
        check_separator(frame["label"], separator(cfg.data), str(cfg.data.path))
    labels = label_order(names_in(frame["label"], multi_label), cfg.data.get("labels"), source_labels, "data.labels")
    parts = split(frame, cfg.data.val_size, cfg.data.test_size, cfg.seed, where=str(cfg.data.path),
                  multi_label=multi_label)
    train_examples = examples(parts["train"])
    train_texts = every_text(train_examples)
    tokenizer = build_tokenizer(cfg.model, train_texts)
    if PAIR in frame:
        check_pair_tokenizer(tokenizer, cfg.model)
    max_len, why = sequence_length(cfg, train_examples, tokenizer)
    set_truncation(tokenizer, max_len, cfg.data.truncation_side, cfg.data.long_text, pairs=PAIR in frame)
    dataset, coverage = tokenize(to_dataset(parts, labels, multi_label), tokenizer, max_len, cfg.data.long_text)
    scripts = {name: script_mix(every_text(examples(part))) for name, part in parts.items()}
    check_readable(coverage["train"], scripts["train"], train_texts, tokenizer, cfg.model, cfg.data)
    with atomic_dir(paths.PROCESSED) as out:
        dataset.save_to_disk(out / paths.DATASET.name)
        tokenizer.save_pretrained(out / paths.TOKENIZER.name)
        write_json(out / paths.LABELS.name, labels)
    stats = {
        "task": cfg.task,
        "cleaning": cleaning,
        "labels": labels,
        "rows": {name: len(part) for name, part in parts.items()},
        "rows_per_label": {name: rows_per_label(part["label"], multi_label).sort_index().to_dict()
                           for name, part in parts.items()},
        "tokens": {"max_seq_len": max_len, "max_seq_len_reason": why, "side": cfg.data.truncation_side,
                   "long_text": cfg.data.long_text, **coverage},
        "scripts": scripts,
    }
    write_json(paths.DATA_STATS, stats)
    return stats


def sequence_length(cfg: DictConfig, texts: list, tokenizer) -> tuple[int, str]:
    """(length, reason): model.max_seq_len, or for `auto` the length most training texts (or pairs) need (data.lengths)
    that the planned hardware affords (gpu.policy.affordable_length, from validate_env's report)."""
    if cfg.model.max_seq_len != "auto":
        return cfg.model.max_seq_len, f"model.max_seq_len={cfg.model.max_seq_len} (set)"
    lengths = [length for start in range(0, len(texts), BATCH)
               for length in tokenizer(texts[start:start + BATCH], return_length=True, verbose=False)["length"]]
    wanted, data_says = covering_length(lengths, cfg.model.arch)
    length, hardware_says = affordable_length(read_json(paths.ENV_REPORT), cfg.gpu, cfg.model,
                                              cfg.train.global_batch_size, cfg.finetune, cfg.strategy, wanted, STEP)
    return length, f"model.max_seq_len=auto: {data_says}; {hardware_says}"


def main() -> None:
    stats = preprocess(load_params("data", "model", "seed", "task", "gpu", "train", "finetune", "strategy"))
    print(f"preprocess: {stats['rows']} rows, {len(stats['labels'])} labels; dropped {stats['cleaning']}")
    tokens = stats["tokens"]
    print(f"preprocess: max_seq_len {tokens['max_seq_len']} ({tokens['max_seq_len_reason']}); texts cut: "
          f"{tokens['train']['cut_share']:.0%} of training texts ({tokens['long_text']}), "
          f"[UNK] {tokens['train']['unknown_share']}, pieces of characters {tokens['train']['fragment_share']}, "
          f"{tokens['train']['tokens_per_word']} tokens a word")


if __name__ == "__main__":
    run_main(main)
