"""Stage pretrain: masked-language-model pretraining of a `scratch` model on unlabelled texts.

Its own DVC stage, so changing fine-tuning params re-runs train but not this. For other model
sources, or with pretrain.steps 0, it only records that nothing was pretrained (train then builds
the scratch model from random weights).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from pipeline import paths
from pipeline.atomic import atomic_dir
from pipeline.errors import PipelineError, run_main
from pipeline.params import load_params


def corpus_texts(corpus: str) -> list[str]:
    """`train`: the training split's texts; otherwise a .txt file with one text per line."""
    if corpus == "train":
        from pipeline.data.loader import split_texts

        return list(split_texts("train"))
    path = Path(corpus)
    if not path.is_file():
        raise PipelineError("pretrain-corpus-missing", f"pretraining corpus '{corpus}' not found", "params.yaml pretrain.corpus",
                            "use `train` or a .txt file with one text per line (and set pretrain.watch to it)")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise PipelineError("pretrain-corpus-empty", "the pretraining corpus has no text", str(path), "add one text per line")
    return texts


def pretrain(cfg: DictConfig, plan: dict) -> dict:
    """Pretrain when asked to; always write models/pretrained/pretraining.json saying what happened."""
    if cfg.model.source != "scratch" or cfg.pretrain.steps <= 0:
        reason = f"model.source is {cfg.model.source}" if cfg.model.source != "scratch" else "pretrain.steps is 0"
        summary = {"pretrained": False, "reason": reason}
        with atomic_dir(paths.PRETRAINED) as out:
            (out / paths.PRETRAINING_SUMMARY.name).write_text(json.dumps(summary, indent=2) + "\n")
        return summary
    if cfg.model.arch.family == "lstm":
        raise PipelineError("pretrain-lstm", "masked-language-model pretraining needs a transformer, not the lstm baseline",
                            "params.yaml pretrain.steps", "set -S pretrain.steps=0 for model=lstm")
    from transformers import AutoTokenizer

    from pipeline.fallback_logger import FallbackMLFlowLogger
    from pipeline.models.factory import load_pretrained, scratch_config
    from pipeline.models.pretrain import pretrain_mlm
    from pipeline.redact import redact
    from pipeline.tracking import reachable_tracking_uri, run_tags

    uri = reachable_tracking_uri(cfg.tracking)
    tokenizer = load_pretrained(AutoTokenizer, paths.TOKENIZER)
    texts = corpus_texts(cfg.pretrain.corpus)
    config = scratch_config(cfg.model.arch, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    logger = FallbackMLFlowLogger(cfg.tracking.experiment, uri, f"pretrain-{cfg.model.name}-{cfg.data.name}",
                                  redact({**run_tags(cfg), "stage": "pretrain"}))
    logger.log_hyperparams(redact({"pretrain": OmegaConf.to_container(cfg.pretrain, resolve=True),
                                   "corpus_texts": len(texts)}))
    settings = plan["settings"]
    started = time.perf_counter()
    with atomic_dir(paths.PRETRAINED) as out:
        result = pretrain_mlm(config, tokenizer, texts, steps=cfg.pretrain.steps, batch_size=cfg.pretrain.batch_size,
                              lr=cfg.pretrain.lr, max_len=cfg.model.max_seq_len, seed=cfg.seed, out_dir=out,
                              mlm_probability=cfg.pretrain.mlm_probability, accelerator=settings["accelerator"],
                              precision=settings["precision"], deterministic=settings["deterministic"],
                              logger=logger)
        summary = {"pretrained": True, "mlflow_run_id": logger.run_id, **result,
                   "seconds": round(time.perf_counter() - started, 1)}
        (out / paths.PRETRAINING_SUMMARY.name).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    cfg = load_params("seed", "model", "data", "pretrain", "tracking", "gpu")
    summary = pretrain(cfg, yaml.safe_load(paths.PLAN.read_text()))
    if summary["pretrained"]:
        print(f"pretrain: {summary['steps']} MLM steps on {summary['texts']} texts, loss {summary['first_loss']:.3f} "
              f"-> {summary['last_loss']:.3f}")
    else:
        print(f"pretrain: skipped ({summary['reason']})")


if __name__ == "__main__":
    run_main(main)
