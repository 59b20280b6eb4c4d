"""The transformers config a conf/model `arch` block describes: what `scratch` builds and what plans estimate."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from transformers import AutoConfig, PretrainedConfig

# Our `arch` keys -> the names a family's transformers config uses where they differ.
CONFIG_NAMES = {
    "distilbert": {"hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
                   "intermediate_size": "hidden_dim"},
    "gpt2": {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
             "intermediate_size": "n_inner", "max_position_embeddings": "n_positions"},
}


def scratch_config(arch: DictConfig, **overrides) -> PretrainedConfig:
    """The transformers config a conf/model `arch` block describes (what `scratch` builds, plan estimates).

    `arch.family` is a transformers model type (bert, distilbert, roberta, deberta-v2, gpt2) or lstm;
    `arch.config` holds family-specific settings.
    """
    extra = OmegaConf.to_container(arch.config) if arch.get("config") else {}
    if arch.family == "lstm":
        from pipeline.models.lstm import lstm_config

        return lstm_config(arch, **{**extra, **overrides})
    values = {"vocab_size": arch.vocab_size, "hidden_size": arch.hidden_size,
              "num_hidden_layers": arch.num_layers, "num_attention_heads": arch.num_heads,
              "intermediate_size": arch.intermediate_size, "max_position_embeddings": arch.max_position_embeddings}
    names = CONFIG_NAMES.get(arch.family, {})
    values = {names.get(key, key): value for key, value in values.items()}
    return AutoConfig.for_model(arch.family, **{**values, **extra, **overrides})
