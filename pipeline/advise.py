"""`python -m pipeline.advise model=bert [model.max_seq_len=512 ...]`: which card do I need?

For every catalog card: does the model fit, with which micro batch and precision, the
estimated peak memory, and an estimated training speed. Prints a table and writes it,
with a bar chart, to reports/advise/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipeline.config.compose import compose_config
from pipeline.core.atomic import write_text
from pipeline.core.errors import PipelineError, run_main
from pipeline.gpu.catalog import cc_value, load_catalog
from pipeline.gpu.detect import NO_GPU
from pipeline.gpu.policy import processes, resolve_plan
from pipeline.gpu.throughput import training_flops_per_sample

MFU = 0.35  # model FLOPs utilisation assumed: mid-range of the 25-45 % typical for BERT training
RECOMPUTE = 4 / 3  # activation checkpointing re-runs the forward pass
OUT_DIR = Path("reports/advise")


def peak_tflops(card: dict, precision: str) -> tuple[float | None, str]:
    """The peak the estimate scales: dense tensor TFLOPS with FP32 accumulate for 16-bit, else FP32."""
    if precision.startswith(("bf16", "16")) and card["tensor_tflops_fp32_acc"]:
        return card["tensor_tflops_fp32_acc"], "tensor FP16/BF16, FP32 accumulate"
    if cc_value(card["compute_capability"]) >= 8.0 and card["tf32_tflops"]:
        return card["tf32_tflops"], "TF32 tensor"
    return card["fp32_tflops"], "FP32"


def advise(cfg: DictConfig) -> list[dict]:
    """One row per catalog card."""
    rows = []
    flops = training_flops_per_sample(cfg.model.arch, cfg.model.max_seq_len, cfg.finetune)
    cards = sorted(load_catalog().items(), key=lambda item: (cc_value(item[1]["compute_capability"]),
                                                             item[1]["fp32_tflops"]))
    for key, card in cards:
        row = {"card": key, "vram_gb": card["vram_gb"], "cc": card["compute_capability"]}
        try:
            plan = resolve_plan(NO_GPU, OmegaConf.create({**card, "plan_only": True}), cfg.model, cfg.train,
                                cfg.finetune, cfg.strategy)
        except PipelineError as err:
            if err.code != "plan-does-not-fit":
                raise
            rows.append({**row, "fits": False, "precision": None, "micro_batch": None, "checkpointing": None,
                         "peak_gib": None, "samples_per_s": None, "peak_tflops_used": None})
            continue
        settings = plan["settings"]
        tflops, kind = peak_tflops(card, settings["precision"])
        cost = flops * (RECOMPUTE if settings["gradient_checkpointing"] else 1)
        rows.append({**row, "fits": True, "precision": settings["precision"],
                     "micro_batch": settings["micro_batch_size"], "checkpointing": settings["gradient_checkpointing"],
                     "peak_gib": plan["memory_gib"]["total"],
                     "samples_per_s": round(processes(settings) * tflops * 1e12 * MFU / cost, 1) if tflops else None,
                     "peak_tflops_used": f"{tflops} ({kind})" if tflops else None})
    return rows


def table(rows: list[dict], cfg: DictConfig) -> str:
    arch = cfg.model.arch
    strategy = cfg.strategy
    lines = [f"{cfg.model.name} ({arch.num_parameters / 1e6:.1f}M params), max_seq_len {cfg.model.max_seq_len}, "
             f"global batch {cfg.train.global_batch_size}, strategy {strategy.name} on {strategy.devices} device(s) x "
             f"{strategy.num_nodes} node(s); samples/s (all devices) assume {MFU:.0%} MFU of the peak shown",
             "", "| card | VRAM GB | CC | fits | precision | micro batch | checkpointing | est. peak GiB | "
             "est. samples/s | peak TFLOPS used |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [row["card"], row["vram_gb"], row["cc"], "yes" if row["fits"] else "no", row["precision"],
                 row["micro_batch"], row["checkpointing"], row["peak_gib"], row["samples_per_s"],
                 row["peak_tflops_used"]]
        lines.append("| " + " | ".join("-" if cell is None else str(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def bar_chart(rows: list[dict], cfg: DictConfig, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.5))
    names = [row["card"] for row in rows]
    speeds = [row["samples_per_s"] or 0 for row in rows]
    colours = ["tab:green" if row["fits"] and not row["checkpointing"] else
               "tab:orange" if row["fits"] else "tab:red" for row in rows]
    ax.barh(names, speeds, color=colours)
    for y, row in enumerate(rows):
        if not row["fits"]:
            ax.text(0, y, " does not fit", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"estimated training samples/s ({MFU:.0%} MFU); orange = needs checkpointing")
    ax.set_title(f"{cfg.model.name}, max_seq_len {cfg.model.max_seq_len}, global batch {cfg.train.global_batch_size}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    cfg = compose_config(sys.argv[1:])
    rows = advise(cfg)
    text = table(rows, cfg)
    stem = OUT_DIR / f"{cfg.model.name}_seq{cfg.model.max_seq_len}"
    write_text(stem.with_suffix(".md"), text)
    bar_chart(rows, cfg, stem.with_suffix(".png"))
    print(text + f"\nwritten: {stem}.md, {stem}.png")


if __name__ == "__main__":
    run_main(main)
