"""Can the model's tokenizer read this text? Checked on the training split before anything trains.

Three signs that it cannot (thresholds from measurements: docs/benchmarks.md, "Can the model read the text?"):
- many tokens it does not know ([UNK]: an English WordPiece reads over half of Chinese text so; English
  sets give well under 1 %);
- many tokens that are pieces of a character (a byte-level or byte-fallback tokenizer, which never says [UNK],
  falls back to bytes on a script it never learned: GPT-2's BPE on Chinese, over 90 % of its tokens; on
  Russian, 45 %; on English, under 1 %);
- in text written with spaces in a script other than Latin, many tokens a word (a vocabulary that holds a
  script's letters but not its words spells each word out: MiniLM reads Russian at 5.3 tokens a word, English
  at 1.1 to 1.9). Latin text is left out: there, many tokens a word mean log lines, codes or URLs, not a
  script the model never learned.
"""

from __future__ import annotations

from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from pipeline.core.errors import PipelineError, warn
from pipeline.data.scripts import UNSPACED_SHARE

# Model options that read each kind of text; offline, model=tiny trains its tokenizer on your texts.
MULTILINGUAL = "model=xlm_roberta or multilingual_minilm (about 100 languages)"
OFFLINE = "offline model=tiny (its tokenizer is trained on your texts)"
READERS = {"chinese": f"model=bert_chinese (Chinese), {MULTILINGUAL}, or {OFFLINE}", "other": f"{MULTILINGUAL}, or {OFFLINE}"}


def problem(coverage: dict, scripts: dict, data: DictConfig) -> str | None:
    """What says the tokenizer cannot read the training texts (their coverage and script mix), or None."""
    unknown, fragments, per_word = coverage["unknown_share"], coverage["fragment_share"], coverage["tokens_per_word"]
    if unknown is not None and unknown > data.max_unknown_share:
        return f"{unknown:.0%} of its tokens are [UNK] (data.max_unknown_share {data.max_unknown_share})"
    if fragments > data.max_fragment_share:
        return (f"{fragments:.0%} of its tokens are pieces of a character (data.max_fragment_share "
                f"{data.max_fragment_share}): the text falls apart into bytes")
    spaced_not_latin = scripts["unspaced_share"] < UNSPACED_SHARE and scripts["letters"].get("latin", 0) < 0.5
    if spaced_not_latin and per_word > data.max_tokens_per_word:
        return (f"it makes {per_word:.1f} tokens a word (data.max_tokens_per_word {data.max_tokens_per_word}): "
                "it spells the words out")
    return None


def check_readable(coverage: dict, scripts: dict, texts: list[str], tokenizer: PreTrainedTokenizerBase,
                   model: DictConfig, data: DictConfig) -> None:
    """Stop (data.unreadable=stop) or warn (warn) when the model's tokenizer cannot read the training texts."""
    found = problem(coverage, scripts, data)
    if found is None:
        return
    letters = scripts["letters"]
    chinese = letters.get("han", 0) >= 0.3 and letters.get("kana", 0) + letters.get("hangul", 0) < 0.05
    mix = ", ".join(f"{name} {share:.0%}" for name, share in sorted(letters.items(), key=lambda kv: -kv[1])
                    if share >= 0.005)
    message = (f"model {model.name} cannot read this text: on the training split {found}; letters {mix}; "
               f"e.g. {example(texts, tokenizer)}")
    fix = f"use {READERS['chinese' if chinese else 'other']}; or -S data.unreadable=warn to train anyway"
    if data.unreadable == "warn":
        warn("data-unreadable-continuing", f"{message}; data.unreadable=warn, so carrying on ({fix})")
        return
    raise PipelineError("data-unreadable", message, "params.yaml model.name", fix)


def example(texts: list[str], tokenizer: PreTrainedTokenizerBase, chars: int = 24) -> str:
    """The start of the training text the tokenizer reads worst, and the tokens it makes of it."""
    unk = tokenizer.unk_token_id

    def badness(text: str) -> tuple[float, float]:  # [UNK] per character, then tokens per character
        ids, length = tokenizer(text[:chars], add_special_tokens=False)["input_ids"], max(len(text[:chars]), 1)
        return (sum(i == unk for i in ids) if unk is not None else 0) / length, len(ids) / length

    worst = max(texts[:200], key=badness)[:chars]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(worst, add_special_tokens=False)["input_ids"])
    return f"{worst!r} -> {' '.join(tokens[:16])}"
