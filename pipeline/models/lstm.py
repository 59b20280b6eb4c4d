"""An embedding + LSTM + linear text classifier that behaves like a transformers sequence-classification model.

Importing this module registers it with AutoConfig and AutoModelForSequenceClassification, so a folder saved
with save_pretrained() loads back with AutoModelForSequenceClassification.from_pretrained(folder).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

MODEL_TYPE = "lstm-classifier"


class LSTMClassifierConfig(PretrainedConfig):
    """Sizes of the embedding and LSTM; `dropout` is applied between LSTM layers and before the head.

    Not decorated with huggingface_hub's @strict: under `from __future__ import annotations` the field types
    are strings, which @strict silently skips, so it would validate nothing.
    """

    model_type = MODEL_TYPE

    vocab_size: int = 4000
    embedding_dim: int = 128
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.1
    pad_token_id: int | None = 0
    initializer_range: float = 0.02


class LSTMForSequenceClassification(PreTrainedModel):
    """Token embeddings -> unidirectional LSTM -> mean over real tokens -> dropout -> linear.

    Reading left to right and averaging only where attention_mask is 1 makes a text's logits independent of
    the right padding of its batch.

    There is no attention, so attn_implementation is irrelevant: from_pretrained accepts "eager" and "sdpa"
    (the pipeline's default) and ignores them, but transformers raises ValueError for "flash_attention_*" and
    "flex_attention"; callers must not pass those for this model.
    """

    config_class = LSTMClassifierConfig
    supports_gradient_checkpointing = False
    _supports_sdpa = True  # trivially: without it transformers 5 rejects attn_implementation="sdpa"
    _input_embed_layer = "embeddings"  # for get_input_embeddings() / resize_token_embeddings()

    def __init__(self, config: LSTMClassifierConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, num_layers=config.num_layers,
                            dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Normal embeddings (zero padding row) and head; Xavier input and orthogonal recurrent LSTM weights,
        zero LSTM biases except a forget-gate bias of 1 so that early training keeps its memory."""
        std = self.config.initializer_range
        if isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LSTM):
            hidden = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif not getattr(param, "_is_hf_initialized", False):  # slices lose the flag
                    init.zeros_(param)
                    if name.startswith("bias_ih"):  # gate order: input, forget, cell, output
                        init.ones_(param[hidden:2 * hidden])
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, std=std)
            init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs) -> SequenceClassifierOutput:
        """Logits of shape (batch, num_labels), and the cross-entropy loss when `labels` are given.

        `token_type_ids` and other keyword arguments are accepted for compatibility and ignored.
        """
        outputs, _ = self.lstm(self.embeddings(input_ids))
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = attention_mask.unsqueeze(-1).to(outputs.dtype)
        pooled = (outputs * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def lstm_config(arch, **overrides) -> LSTMClassifierConfig:
    """The config for a conf/model `arch` block (dict or DictConfig) with `family: lstm`.

    Reads vocab_size, embedding_dim, hidden_size, num_layers and dropout; `overrides` (vocab_size,
    pad_token_id, num_labels, id2label, label2id, ...) take precedence.
    """
    sizes = ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout")
    values = {key: arch[key] for key in sizes if arch.get(key) is not None}
    return LSTMClassifierConfig(**{**values, **overrides})


# exist_ok: a second import (importlib.reload, a test runner importing the file twice) re-registers the
# newest classes instead of raising.
AutoConfig.register(MODEL_TYPE, LSTMClassifierConfig, exist_ok=True)
AutoModelForSequenceClassification.register(LSTMClassifierConfig, LSTMForSequenceClassification, exist_ok=True)
