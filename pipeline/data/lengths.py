"""How long the model's inputs should be, read from the data (model.max_seq_len=auto): the length that covers
most training texts, in steps of STEP tokens, at least SHORTEST, never past the model's positions. The hardware's
side of the choice (what a length costs on the planned card) is gpu.policy.affordable_length."""

from __future__ import annotations

from math import ceil

from omegaconf import DictConfig

from pipeline.config.schema import positions

COVERED = 0.95  # the share of training texts auto lets the model read whole
STEP = 32       # lengths are multiples of this (the cost of a few tokens more is nothing; kernels like round sizes)
SHORTEST = 128  # auto reads at least this many: batches are padded to their own longest text, so a shorter cut
                # would save little and would cut the longest short texts, which 128 (the fixed default before
                # auto, measured on every short-text set in docs/benchmarks.md) reads whole


def covering(ordered: list[int], share: float) -> int:
    """The smallest length at least `share` of the (sorted) lengths fit in (nearest rank); 0 without any."""
    return ordered[max(ceil(share * len(ordered)), 1) - 1] if ordered else 0


def covering_length(lengths: list[int], arch: DictConfig) -> tuple[int, str]:
    """(length, reason): the multiple of STEP that holds COVERED of `lengths` (tokens per training text, special
    tokens in), at least SHORTEST, within the model's positions."""
    wanted = covering(sorted(lengths), COVERED)
    covered = ceil(wanted / STEP) * STEP
    length = max(SHORTEST, covered)
    reason = f"{COVERED:.0%} of the training texts are {wanted} tokens or fewer"
    if covered < SHORTEST:
        reason += f"; auto reads at least {SHORTEST}"
    limit = positions(arch)
    if limit is not None and length > limit:
        return limit, f"{reason}; the model reads at most {limit}"
    return length, reason
