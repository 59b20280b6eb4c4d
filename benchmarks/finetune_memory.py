"""Training memory of MiniLM per fine-tuning mode, measured on the CPU against pipeline.gpu.memory.estimate.

    .venv/bin/python benchmarks/finetune_memory.py [--batch 16] [--seq-len 128]

Each mode is MiniLM built as train builds it (pipeline.models.sources.build_model with a 16-label head, then
apply_finetune under conf/finetune/MODE.yaml's defaults, LoRA with and without dropout and on the attention
projections alone), one fp32 forward and backward on random token ids at exactly --seq-len, and one AdamW step.
Measured, independent of the allocator: the bytes autograd keeps for the backward pass (saved_for_backward, the
weights left out) and the gradients plus AdamW states the step holds. Estimated: memory.estimate's activations,
gradients and optimizer_states for the same mode (32-true, sdpa attention, no checkpointing). Prints Markdown.
"""

from __future__ import annotations

import argparse

import torch

from pipeline.config.compose import compose_config
from pipeline.gpu.memory import estimate
from pipeline.models.finetune import apply_finetune, parameter_counts
from pipeline.models.sources import build_model, build_tokenizer

MIB = 2**20
MODES = {"full": ["finetune=full"],
         "lora, dropout 0.1": ["finetune=lora", "finetune.dropout=0.1"],
         "lora, dropout 0 (the default)": ["finetune=lora", "finetune.dropout=0"],
         "lora, attention r 8": ["finetune=lora", "finetune.targets=attention", "finetune.r=8"],
         "head_only": ["finetune=head_only"]}


def saved_for_backward(model, batch: dict) -> int:
    """Bytes autograd keeps for the backward pass of one forward (the weights left out): measured, not estimated."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        loss = model(**batch).loss
    loss.backward()
    return sum(kept.values())


def measure(overrides: list[str], batch_size: int, seq_len: int) -> dict:
    torch.manual_seed(0)
    cfg = compose_config(["model=minilm", *overrides])
    labels = [f"label{i}" for i in range(16)]
    model = apply_finetune(build_model(cfg.model, labels, build_tokenizer(cfg.model, [])), cfg.finetune, cfg.model.arch)
    ids = torch.randint(1000, 20000, (batch_size, seq_len))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.arange(batch_size) % len(labels)}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    activations = saved_for_backward(model.train(), batch)
    optimizer.step()
    state = sum(p.grad.nbytes for p in model.parameters() if p.grad is not None)
    state += sum(value.nbytes for per_param in optimizer.state.values() for value in per_param.values()
                 if torch.is_tensor(value) and value.dim() > 0)
    parts = estimate(cfg.model.arch, seq_len, batch_size, "32-true", "sdpa", False, cfg.finetune)
    return {**parameter_counts(model), "activations": activations / MIB, "state": state / MIB,
            "activations_estimate": parts["activations"] * 1024,
            "state_estimate": (parts["gradients"] + parts["optimizer_states"]) * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    print(f"MiniLM, batch {args.batch}, sequence length {args.seq_len}, fp32, CPU (MiB)\n")
    print("| mode | trained weights | kept for backward: measured / estimate | gradients + AdamW: measured / estimate "
          "| sum: measured / estimate |\n|---|---|---|---|---|")
    for name, overrides in MODES.items():
        row = measure(overrides, args.batch, args.seq_len)
        print(f"| {name} | {row['trainable'] / 1e6:.2f}M | {row['activations']:.0f} / {row['activations_estimate']:.0f} | "
              f"{row['state']:.0f} / {row['state_estimate']:.0f} | {row['activations'] + row['state']:.0f} / "
              f"{row['activations_estimate'] + row['state_estimate']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
