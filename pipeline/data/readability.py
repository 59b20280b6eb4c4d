"""Can the model's tokenizer read this text? Checked on the training split before anything trains.

Two signs that it cannot: many tokens it does not know ([UNK]: an English WordPiece on Chinese reads most
characters so), or, for byte-level tokenizers that never say [UNK], many tokens per character (text in a
script it never learned falls apart into bytes). Thresholds from measurements (docs/benchmarks.md,
"Can the model read the text?"): English sets give well under 1 % [UNK] and 0.2-0.3 tokens per character
with MiniLM's tokenizer; Chinese gives over half [UNK].
"""

from __future__ import annotations

from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from pipeline.core.errors import PipelineError, warn

# Model options that read each kind of text; offline, model=tiny trains its tokenizer on your texts.
MULTILINGUAL = "model=xlm_roberta or multilingual_minilm (about 100 languages)"
OFFLINE = "offline model=tiny (its tokenizer is trained on your texts)"
READERS = {"cjk": f"model=bert_chinese (Chinese), {MULTILINGUAL}, or {OFFLINE}", "other": f"{MULTILINGUAL}, or {OFFLINE}"}


def problem(coverage: dict, data: DictConfig) -> str | None:
    """What says the tokenizer cannot read the training texts, or None."""
    unknown, per_char = coverage["unknown_share"], coverage["tokens_per_character"]
    if unknown is not None and unknown > data.max_unknown_share:
        return f"{unknown:.0%} of its tokens are [UNK] (data.max_unknown_share {data.max_unknown_share})"
    if per_char > data.max_tokens_per_character:
        return (f"it makes {per_char:.2f} tokens per character (data.max_tokens_per_character "
                f"{data.max_tokens_per_character}): the text falls apart into bytes")
    return None


def check_readable(coverage: dict, scripts: dict, texts: list[str], tokenizer: PreTrainedTokenizerBase,
                   model: DictConfig, data: DictConfig) -> None:
    """Stop (data.unreadable=stop) or warn (warn) when the model's tokenizer cannot read the training texts."""
    found = problem(coverage, data)
    if found is None:
        return
    readers = READERS["cjk" if scripts["letters"].get("cjk", 0) >= 0.3 else "other"]
    mix = ", ".join(f"{name} {share:.0%}" for name, share in sorted(scripts["letters"].items(), key=lambda kv: -kv[1])
                    if share >= 0.005)
    message = (f"model {model.name} cannot read this text: on the training split {found}; letters {mix}; "
               f"e.g. {example(texts, tokenizer)}")
    fix = f"use {readers}; or -S data.unreadable=warn to train anyway"
    if data.unreadable == "warn":
        warn("data-unreadable-continuing", f"{message}; data.unreadable=warn, so carrying on ({fix})")
        return
    raise PipelineError("data-unreadable", message, "params.yaml model.name", fix)


def example(texts: list[str], tokenizer: PreTrainedTokenizerBase, chars: int = 24) -> str:
    """The start of the training text the tokenizer reads worst, and the tokens it makes of it."""
    unk = tokenizer.unk_token_id

    def badness(text: str) -> float:
        ids = tokenizer(text[:chars], add_special_tokens=False)["input_ids"]
        return (sum(i == unk for i in ids) if unk is not None else len(ids)) / max(len(text[:chars]), 1)

    worst = max(texts[:200], key=badness)[:chars]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(worst, add_special_tokens=False)["input_ids"])
    return f"{worst!r} -> {' '.join(tokens[:16])}"
