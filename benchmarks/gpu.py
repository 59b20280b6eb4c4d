"""bert-base fine-tuning throughput, MFU and peak memory on an NVIDIA GPU, under the project's plan.

    .venv/bin/python benchmarks/gpu.py [--seq-lens 128 512] [--attention sdpa eager] [--global-batch 16]
                                       [--micro-batch N] [--compile plan|on|off] [--warmup 10] [--steps 30]
    .venv/bin/python benchmarks/gpu.py --device cpu --global-batch 2 --seq-lens 128 --warmup 1 --steps 2
                                       (smoke run of the code on a CPU; no MFU there)

bert-base is built from conf/model/bert.yaml's `arch` with the project's scratch_config (offline,
random weights: throughput does not depend on them), with a 2-label head. The plan is resolve's:
pipeline.gpu.policy.resolve_plan for the card pipeline.gpu.detect finds (gpu=auto; gpu=cpu with
--device cpu), for model=bert at each sequence length and train.global_batch_size=--global-batch. It
sets the precision, micro batch, accumulation, checkpointing, compile, TF32 and determinism used here.

The loop is plain PyTorch doing what Lightning does for these precisions (torch.autocast in bf16 or
fp16, a GradScaler for 16-mixed, fp32 weights and AdamW states): one fixed batch of random token ids
at exactly the sequence length (no data loading, no padding), warm-up optimizer steps (compilation
included), then timed optimizer steps between torch.cuda.synchronize calls. Achieved TFLOPS counts
pipeline.gpu.throughput.training_flops_per_sample (model FLOPs: recomputation under checkpointing not
counted); MFU divides it by pipeline.gpu.throughput.matmul_peak for the detected card. "model" is
pipeline.gpu.throughput's samples/s for the same card, precision, micro batch, accumulation and
checkpointing (fitted to published runs with eager attention and apex AMP). Peak memory
(torch.cuda.max_memory_allocated and max_memory_reserved, from before the model is built) is compared
with pipeline.gpu.memory.estimate for the same micro batch, precision, attention and checkpointing,
less its fixed CUDA-context allowance (which torch's allocator does not see).

Without a CUDA GPU it stops with one line, unless --device cpu. Prints Markdown.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import torch
from omegaconf import DictConfig
from transformers import AutoModelForSequenceClassification

from pipeline.config.compose import compose_config
from pipeline.core.paths import CONF
from pipeline.gpu import memory
from pipeline.gpu.catalog import load_catalog
from pipeline.gpu.detect import environment_report
from pipeline.gpu.policy import resolve_plan
from pipeline.gpu.throughput import matmul_peak, throughput, training_flops_per_sample
from pipeline.models.architectures import scratch_config

from common import cpu_name

AUTOCAST = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}  # what the plan chooses
GIB = 2**30
USED = ("precision", "matmul_precision", "attention", "micro_batch_size", "accumulate_grad_batches",
        "gradient_checkpointing", "compile", "deterministic")  # the plan's settings this benchmark applies


def machine(env: dict, device: torch.device) -> str:
    cpu = cpu_name()
    line = f"Machine: {cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__}"
    if device.type == "cuda":
        card = env["gpu_profile"]
        line += (f" (CUDA {torch.version.cuda}), driver {env['nvidia_driver']}; GPU: {torch.cuda.get_device_name()} "
                 f"(CC {env['gpus'][0]['compute_capability']}, {env['gpus'][0]['memory_total_gib']} GiB), "
                 f"catalog profile {card['profile']}")
    return line + f"; device used: {device.type}"


def plan_for(env: dict, device: torch.device, seq_len: int, global_batch: int) -> tuple[DictConfig, dict]:
    """(config, plan) for bert at `seq_len`, as resolve would plan it on this machine."""
    cfg = compose_config(["model=bert", f"model.max_seq_len={seq_len}", f"train.global_batch_size={global_batch}",
                          f"gpu={'auto' if device.type == 'cuda' else 'cpu'}"], conf_dir=CONF)
    return cfg, resolve_plan(env, cfg.gpu, cfg.model, cfg.train, cfg.finetune)


def build_model(arch: DictConfig, attention: str, settings: dict, device: torch.device):
    config = scratch_config(arch, num_labels=2, attn_implementation=attention)
    model = AutoModelForSequenceClassification.from_config(config).to(device).train()
    if settings["gradient_checkpointing"]:
        model.gradient_checkpointing_enable()
    return model


def random_batch(vocab_size: int, micro_batch: int, seq_len: int, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(0, vocab_size, (micro_batch, seq_len), generator=generator).to(device),
            "attention_mask": torch.ones(micro_batch, seq_len, dtype=torch.long, device=device),
            "labels": torch.randint(0, 2, (micro_batch,), generator=generator).to(device)}


def optimizer_steps(model, optimizer, scaler, batch: dict, steps: int, accumulate: int, dtype, device) -> None:
    """`steps` optimizer steps of `accumulate` forward/backward passes each, as Lightning runs them."""
    for _ in range(steps):
        for _ in range(accumulate):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = model(**batch).loss / accumulate
            scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(cfg: DictConfig, settings: dict, attention: str, device: torch.device, args) -> dict:
    """Warm up, then time `args.steps` optimizer steps; throughput and peak memory."""
    arch, seq_len, micro, accumulate = cfg.model.arch, cfg.model.max_seq_len, settings["micro_batch_size"], \
        settings["accumulate_grad_batches"]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model = build_model(arch, attention, settings, device)
    parameters = sum(p.numel() for p in model.parameters())
    if settings["compile"]:
        model = torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    dtype = AUTOCAST[settings["precision"]]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    batch = random_batch(arch.vocab_size, micro, seq_len, device)

    started = time.perf_counter()
    optimizer_steps(model, optimizer, scaler, batch, args.warmup, accumulate, dtype, device)
    synchronize(device)
    warmed = time.perf_counter()
    optimizer_steps(model, optimizer, scaler, batch, args.steps, accumulate, dtype, device)
    synchronize(device)
    seconds = time.perf_counter() - warmed

    result = {"seq_len": seq_len, "attention": attention, "micro": micro, "accumulate": accumulate,
              "parameters": parameters, "warmup_s": warmed - started,
              "samples_per_s": args.steps * accumulate * micro / seconds}
    if device.type == "cuda":
        result.update(allocated_gib=torch.cuda.max_memory_allocated() / GIB,
                      reserved_gib=torch.cuda.max_memory_reserved() / GIB)
    del model, optimizer, batch
    release(device)
    return result


def release(device: torch.device) -> None:
    """Free what one measurement held, so the next one's peak memory starts from zero."""
    gc.collect()
    torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def settings_for(plan: dict, args) -> dict:
    """The plan's settings, with the command line's micro batch and compile choices where given."""
    settings = dict(plan["settings"])
    if args.micro_batch:
        settings.update(micro_batch_size=args.micro_batch,
                        accumulate_grad_batches=max(1, args.global_batch // args.micro_batch))
    if args.compile != "plan":
        settings["compile"] = args.compile == "on"
    return settings


def apply_global_settings(settings: dict) -> None:
    """Process-wide settings the plan makes (as train and Lightning apply them)."""
    torch.set_float32_matmul_precision(settings["matmul_precision"])
    if settings["deterministic"]:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.use_deterministic_algorithms(True, warn_only=settings["deterministic"] == "warn")


def throughput_row(result: dict, cfg: DictConfig, settings: dict, card: dict | None) -> str:
    flops = training_flops_per_sample(cfg.model.arch, result["seq_len"], cfg.finetune)
    achieved = result["samples_per_s"] * flops / 1e12
    peak, _, kind = matmul_peak(card, settings["precision"]) if card else (None, None, "CPU")
    mfu = f"**{achieved / peak:.1%}**" if peak else "n/a"
    peak_text = f"{peak} ({kind})" if peak else f"n/a ({kind})"
    model = card and throughput(card, cfg.model.arch, result["seq_len"], settings["precision"], result["micro"],
                                result["accumulate"], settings["gradient_checkpointing"], cfg.finetune)
    model_text = f"{model.samples_per_s:.1f} ±{model.error:.0%}" if model else "n/a"
    return (f"| {result['seq_len']} | {result['attention']} | {result['micro']} x {result['accumulate']} | "
            f"{settings['precision']} | {settings['compile']} | {settings['gradient_checkpointing']} | "
            f"{result['samples_per_s']:.1f} | {model_text} | {result['samples_per_s'] * result['seq_len']:,.0f} | "
            f"{achieved:.2f} | {peak_text} | {mfu} | {result['warmup_s']:.1f} s |")


def memory_row(result: dict, cfg: DictConfig, settings: dict) -> str:
    # The estimator's attention: "eager" stores the s x s scores, anything else counts a fused kernel.
    estimate = memory.estimate(cfg.model.arch, result["seq_len"], result["micro"], settings["precision"],
                               result["attention"], settings["gradient_checkpointing"], cfg.finetune)
    without_context = estimate["total"] - estimate["cuda_context"]
    measured = result.get("allocated_gib")
    measured_text = f"{measured:.2f} | {result['reserved_gib']:.2f} | **{measured / without_context:.2f}**" \
        if measured is not None else "n/a | n/a | n/a"
    return (f"| {result['seq_len']} | {result['attention']} | {result['micro']} | {settings['precision']} | "
            f"{estimate['total']:.2f} | {without_context:.2f} | {measured_text} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--attention", nargs="+", choices=["sdpa", "eager"], default=["sdpa"])
    parser.add_argument("--global-batch", type=int, default=16, help="train.global_batch_size the plan splits")
    parser.add_argument("--micro-batch", type=int, help="override the plan's micro batch")
    parser.add_argument("--compile", choices=["plan", "on", "off"], default="plan")
    parser.add_argument("--warmup", type=int, default=10, help="untimed optimizer steps (compilation included)")
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"benchmarks/gpu.py: no CUDA GPU visible to torch {torch.__version__} "
                         f"(CUDA build {torch.version.cuda}); for a CPU smoke run add --device cpu")
    device = torch.device(args.device)
    env = environment_report(load_catalog(CONF))
    card = env["gpu_profile"] if device.type == "cuda" else None
    print(f"## bert-base fine-tuning throughput\n\n{machine(env, device)}\n", flush=True)

    speed_rows, memory_rows = [], []
    for seq_len in args.seq_lens:
        cfg, plan = plan_for(env, device, seq_len, args.global_batch)
        settings = settings_for(plan, args)
        apply_global_settings(settings)
        print(f"- seq {seq_len}: plan for {plan['target']}: " + ", ".join(f"{key} {settings[key]}" for key in USED),
              flush=True)
        for attention in args.attention:
            result = measure(cfg, settings, attention, device, args)
            speed_rows.append(throughput_row(result, cfg, settings, card))
            memory_rows.append(memory_row(result, cfg, settings))
    print(f"\nbert-base ({result['parameters'] / 1e6:.1f}M params, 2-label head, random weights), random token ids, "
          f"{args.warmup} warm-up + {args.steps} timed optimizer steps per row.\n\n"
          "| seq | attention | micro x accum | precision | compile | checkpointing | samples/s | model samples/s | "
          "tokens/s | achieved TFLOPS | peak TFLOPS used | MFU | warm-up |\n|" + "---|" * 13)
    print("\n".join(speed_rows))
    print("\nPeak memory (GiB) against pipeline.gpu.memory.estimate:\n\n| seq | attention | micro | precision | "
          "estimate | estimate less CUDA context | max allocated | max reserved | allocated / estimate |\n"
          "|---|---|---|---|---|---|---|---|---|")
    print("\n".join(memory_rows))


if __name__ == "__main__":
    main()
