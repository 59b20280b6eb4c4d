"""Fine-tuning modes (conf/finetune): full, head_only (frozen encoder) and lora (peft adapters)."""

from __future__ import annotations

from omegaconf import DictConfig

from pipeline.core.errors import PipelineError


def apply_finetune(model, finetune: DictConfig, arch: DictConfig):
    """The model to train under `finetune.mode`: itself, with a frozen encoder, or wrapped in LoRA adapters.

    The head (`arch.head_modules`: the new classifier and any layer trained whole with it) is trained in every
    mode. The mode is one pipeline/config/schema.py allows (load_params checked it).
    """
    head = list(arch.get("head_modules") or [])
    if finetune.mode == "full":
        return model
    if not head:
        raise PipelineError("finetune-head-missing", f"{finetune.mode} needs the model's head modules", "model.arch.head_modules",
                            "list the classification head's module names, e.g. [classifier]")
    if finetune.mode == "head_only":
        prefixes = tuple(f"{module}." for module in head)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(prefixes))
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    targets = "all-linear" if finetune.targets == "all_linear" else list(arch.get("lora_targets") or [])
    if not targets:
        raise PipelineError("finetune-lora-targets", f"no LoRA target modules for the {arch.family} architecture", "model.arch.lora_targets",
                            "list its attention projections, e.g. [query, value], or use -S finetune=full")
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=finetune.r, lora_alpha=finetune.alpha,
                        lora_dropout=finetune.dropout, target_modules=targets, modules_to_save=head)
    return get_peft_model(model, config)


def parameter_counts(model) -> dict[str, int]:
    """Trainable and total parameters (for logging and the plan check)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total}


def merged(model):
    """A plain transformers model to save: LoRA adapters merged into the base weights."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
