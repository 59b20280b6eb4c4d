"""Pairs of texts (data.text_pair_column: paraphrase, inference, question and answer): both texts go through the
model's tokenizer as a pair, so it sees them as two segments ([SEP] and token type ids where it has them), cut
longer text first (text_windows.longest_first). What reads a pair, and the texts of an example either way."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from omegaconf import DictConfig

from pipeline.core.errors import PipelineError
from pipeline.data.normalise import PAIR


def check_pair_settings(data: DictConfig, model: DictConfig) -> None:
    """A one-line error where the data has pairs and a setting reads one text only."""
    if not data.get("text_pair_column"):
        return
    if model.source == "scratch":
        raise PipelineError("data-pairs-unsupported", f"model {model.name} is trained from scratch and reads one text "
                            "(its tokenizer has no pair template), but data.text_pair_column is set",
                            "params.yaml model.name", "use a pretrained encoder: -S model=minilm (the default), bert, "
                            "roberta, ...")
    if data.long_text != "truncate":
        raise PipelineError("data-pairs-unsupported", f"data.long_text={data.long_text} cuts one text, but "
                            "data.text_pair_column is set (a pair is cut longer text first)",
                            "params.yaml data.long_text", "set -S data.long_text=truncate")


def examples(frame: pd.DataFrame) -> list:
    """Each row's text, or (text, text_pair) where the frame has pairs."""
    return list(zip(frame["text"], frame[PAIR])) if PAIR in frame else list(frame["text"])


def every_text(items: Sequence) -> list[str]:
    """The texts of examples, both of each pair: what the script mix and the readability check read."""
    return [text for item in items for text in (item if isinstance(item, tuple) else (item,))]


def text_fields(item) -> dict[str, str]:
    """An example's text columns for a report row: `text`, and `text_pair` for a pair."""
    return dict(zip(("text", PAIR), item)) if isinstance(item, tuple) else {"text": item}


def text_columns_of(items: Sequence) -> list[str]:
    """The text columns of a report on these examples."""
    return ["text", PAIR] if items and isinstance(items[0], tuple) else ["text"]
