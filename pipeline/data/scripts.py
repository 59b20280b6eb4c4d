"""Which writing systems a set of texts is in: the share of its letters in each script, and the share written
without spaces between words (Chinese, Japanese, Thai, ...), where word tokens do not work."""

from __future__ import annotations

import re

# Letters by script, as Unicode blocks (the main ones of each script).
SCRIPTS = {
    "latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",  # Chinese characters (also Japanese kanji)
    "kana": "\u3040-\u30ff\u31f0-\u31ff",  # Japanese
    "hangul": "\uac00-\ud7af\u1100-\u11ff",  # Korean
    "cyrillic": "\u0400-\u052f",
    "greek": "\u0370-\u03ff",
    "arabic": "\u0600-\u06ff\u0750-\u077f",
    "hebrew": "\u0590-\u05ff",
    "devanagari": "\u0900-\u097f",
    "thai": "\u0e00-\u0e7f",
    "southeast_asian": "\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff",  # Lao, Myanmar, Khmer
}
# Scripts written without spaces between words (Han, kana, Thai, Lao, Myanmar, Khmer); Hangul uses spaces.
UNSPACED = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\u31f0-\u31ff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_PATTERNS = {name: re.compile(f"[{ranges}]") for name, ranges in SCRIPTS.items()}
_UNSPACED = re.compile(f"[{UNSPACED}]")
_LETTER = re.compile(r"[^\W\d_]")
SAMPLE = 5_000  # texts read at most, spread evenly over the set: the mix of a large file costs no more
UNSPACED_SHARE = 0.3  # texts whose letters are at least this share unspaced script are read as characters


def script_mix(texts: list[str]) -> dict:
    """Share of the letters in each script (those over 0), the share in unspaced scripts, and how many texts
    were read (at most SAMPLE, evenly spread)."""
    sample = texts[::max(1, len(texts) // SAMPLE)][:SAMPLE]
    joined = "".join(sample)
    letters = max(len(_LETTER.findall(joined)), 1)
    shares = {name: round(len(pattern.findall(joined)) / letters, 4) for name, pattern in _PATTERNS.items()}
    return {"letters": {name: share for name, share in shares.items() if share > 0},
            "unspaced_share": round(len(_UNSPACED.findall(joined)) / letters, 4), "texts_read": len(sample)}


def unspaced(texts: list[str]) -> bool:
    """Whether the texts are mostly in scripts without spaces between words (word tokens would not work)."""
    return script_mix(texts)["unspaced_share"] >= UNSPACED_SHARE
