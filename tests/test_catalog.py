"""conf/gpu/*.yaml agrees, figure by figure, with the reference table tests/reference/gpus.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

REFERENCE = Path(__file__).resolve().parent / "reference" / "gpus.md"  # its source: tests/reference/README.md

GPU_DIR = ROOT / "conf" / "gpu"
NON_CARDS = ("auto", "cpu")
KEYS = [
    "profile", "name", "nvml_names", "reference_row", "arch", "die", "compute_capability",
    "vram_gb", "bandwidth_gbs", "fp32_tflops", "tensor_tflops_fp32_acc", "tensor_tflops_fp16_acc",
    "tf32_tflops", "fp8_tflops", "bf16", "tf32", "fp8", "fp4", "tensor_cores", "tdp_w",
    "computed", "unconfirmed", "plan_only",
]
NUMBER_KEYS = ["vram_gb", "bandwidth_gbs", "fp32_tflops", "tensor_tflops_fp32_acc", "tensor_tflops_fp16_acc",
               "tf32_tflops", "fp8_tflops", "tdp_w"]
LIST_KEYS = ["nvml_names", "computed", "unconfirmed"]
ARCHES = {"pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell"}
MARKS = {"[c]": "computed", "[?]": "unconfirmed"}


# --- the reference table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    """A number as the table writes it (without "~" and marks), with the marks that apply to it."""

    text: str
    marks: frozenset[str] = frozenset()


FIGURE = re.compile(r"(?<![\w.])~?(\d+(?:\.\d+)?)((?:\s*\[[c?]\])*)")
FORMAT = re.compile(r"([YN])(?:\s*\((.*)\))?")


def table_rows(markdown: str) -> dict[str, dict[str, str]]:
    """The first markdown table, as {first-column text: {column header: cell text}}."""
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    header, _separator, *body = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return {cells[0]: dict(zip(header, cells)) for cells in body}


def mark_names(text: str) -> frozenset[str]:
    return frozenset(MARKS[mark] for mark in re.findall(r"\[[c?]\]", text))


def figures(cell: str) -> list[Figure]:
    """Every number in a cell with its marks. A mark follows the number it applies to, except that marks
    only after the last of several numbers ("25.8 / 51.6 [c]") apply to the whole cell."""
    found = [(number, mark_names(marks)) for number, marks in FIGURE.findall(cell)]
    if len(found) > 1 and not any(marks for _, marks in found[:-1]):
        found = [(number, found[-1][1]) for number, _ in found]
    return [Figure(number, marks) for number, marks in found]


def one_figure(cell: str) -> Figure:
    (figure,) = figures(cell)
    return figure


def variants(row_name: str) -> list[str | None]:
    """Form factors a row combines ("V100 SXM2 / PCIe" -> SXM2, PCIe); [None] for a single card."""
    if " / " not in row_name:
        return [None]
    return [part.split()[-1] for part in row_name.split(" / ")]


def variant_indices(row_name: str) -> list[int | None]:
    names = variants(row_name)
    return [None] if names == [None] else list(range(len(names)))


def for_variant(cell: str, index: int | None) -> str:
    """The part of a "SXM2 / PCIe" cell that belongs to one variant; the whole cell for a single card."""
    if index is None or " / " not in cell:
        return cell
    return cell.split(" / ")[index]


def tensor_figures(cell: str) -> tuple[Figure | None, Figure | None]:
    """(FP32-accumulate, FP16-accumulate). One number ("312", "65 (not halved)") stands for both."""
    if cell.startswith("none"):
        return None, None
    found = figures(cell)
    if len(found) == 1:
        return found[0], found[0]
    fp32_acc, fp16_acc = found  # "71 / 142"; a "SXM2 / PCIe" pair was split by for_variant already
    return fp32_acc, fp16_acc


def format_cell(cell: str) -> tuple[bool, Figure | None, str]:
    """A BF16/TF32/FP8 cell: "Y (156)" -> (True, 156, ""), "Y (+FP4)" -> (True, None, "+FP4"), "N"."""
    match = FORMAT.fullmatch(cell)
    assert match, f"unreadable format cell {cell!r}"
    flag, note = match.group(1) == "Y", match.group(2) or ""
    if FIGURE.fullmatch(note):
        return flag, one_figure(note), ""
    return flag, None, note


def yes(cell: str) -> bool:
    assert cell in ("Y", "N"), f"expected Y or N, got {cell!r}"
    return cell == "Y"


def expected_profile(row: dict[str, str], variant: int | None, vram_gb) -> dict[str, Figure | object]:
    """What a profile for this row (and form factor, and VRAM option) must hold; numbers as Figures."""
    arch, die = row["Arch (die)"].split()
    fp32_acc, fp16_acc = tensor_figures(for_variant(row["Tensor TF (FP32-acc / FP16-acc)"], variant))
    bf16, _, _ = format_cell(row["BF16"])
    tf32, tf32_tflops, _ = format_cell(row["TF32"])
    fp8, fp8_tflops, fp8_note = format_cell(row["FP8"])
    vram = [figure for figure in figures(row["VRAM GB"]) if float(figure.text) == float(vram_gb)]
    assert vram, f"vram_gb {vram_gb} is not one of the table's {row['VRAM GB']!r}"
    return {
        "arch": arch.lower(),
        "die": die,
        "compute_capability": row["CC"],
        "vram_gb": vram[0],
        "bandwidth_gbs": one_figure(row["BW GB/s"]),
        "fp32_tflops": one_figure(for_variant(row["FP32 TF"], variant)),
        "tensor_tflops_fp32_acc": fp32_acc,
        "tensor_tflops_fp16_acc": fp16_acc,
        "tf32_tflops": tf32_tflops,
        "fp8_tflops": fp8_tflops,
        "bf16": bf16,
        "tf32": tf32,
        "fp8": fp8,
        "fp4": fp8_note == "+FP4",
        "tensor_cores": yes(row["Tensor cores"]),
        "tdp_w": one_figure(for_variant(row["TDP W"], variant)),
    }


def keys_marked(expected: dict, mark: str) -> list[str]:
    return [key for key in NUMBER_KEYS if isinstance(expected[key], Figure) and mark in expected[key].marks]


def as_written(value: int | float | Figure | None) -> str | None:
    """A number's text, to compare int/decimal form with the table: 71 -> "71", 40.0 -> "40.0"."""
    if isinstance(value, Figure):
        return value.text
    return None if value is None else str(value)


# --- the catalog -----------------------------------------------------------------------------------

def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


CARD_FILES = sorted(path for path in GPU_DIR.glob("*.yaml") if path.stem not in NON_CARDS)
ROWS = table_rows(REFERENCE.read_text(encoding="utf-8"))


def variant_of(profile: dict) -> int | None:
    """Which form factor of its row a profile is, read from its key (v100_sxm2_16gb -> SXM2)."""
    names = variants(profile["reference_row"])
    if names == [None]:
        return None
    (index,) = [i for i, name in enumerate(names) if name.lower() in profile["profile"]]
    return index


@pytest.fixture(scope="module")
def cards() -> dict[str, dict]:
    return {path.stem: load(path) for path in CARD_FILES}


def test_the_catalog_and_the_table_are_not_empty():
    assert len(ROWS) >= 30, f"parsed only {len(ROWS)} rows from {REFERENCE}"
    assert len(CARD_FILES) >= len(ROWS)


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda path: path.stem)
def test_profile_matches_its_reference_row(path):
    profile = load(path)
    assert list(profile) == KEYS, "keys missing, extra or out of order"
    assert profile["profile"] == path.stem
    assert profile["reference_row"] in ROWS, f"no row {profile['reference_row']!r} in {REFERENCE.name}"
    expected = expected_profile(ROWS[profile["reference_row"]], variant_of(profile), profile["vram_gb"])

    actual_numbers = {key: None if profile[key] is None else float(profile[key]) for key in NUMBER_KEYS}
    expected_numbers = {key: None if expected[key] is None else float(expected[key].text) for key in NUMBER_KEYS}
    assert actual_numbers == expected_numbers
    assert {key: as_written(profile[key]) for key in NUMBER_KEYS} == \
        {key: as_written(expected[key]) for key in NUMBER_KEYS}, "write ints as ints and decimals as in the table"

    others = [key for key in expected if key not in NUMBER_KEYS]
    assert {key: profile[key] for key in others} == {key: expected[key] for key in others}
    assert profile["computed"] == keys_marked(expected, "computed")
    assert profile["unconfirmed"] == keys_marked(expected, "unconfirmed")


@pytest.mark.parametrize("path", CARD_FILES, ids=lambda path: path.stem)
def test_profile_names_its_card(path):
    profile = load(path)
    assert profile["arch"] in ARCHES
    assert isinstance(profile["compute_capability"], str)
    assert profile["nvml_names"] and profile["name"] == profile["nvml_names"][0]
    assert isinstance(profile["plan_only"], bool)


def test_every_row_and_form_factor_and_memory_size_has_a_profile(cards):
    wanted = {(name, index, float(vram.text))
              for name, row in ROWS.items()
              for index, vram in product(variant_indices(name), figures(row["VRAM GB"]))}
    covered = {(card["reference_row"], variant_of(card), float(card["vram_gb"])) for card in cards.values()}
    assert sorted(wanted - covered, key=str) == []


def test_nvml_names_are_unique_across_profiles(cards):
    names = [name for card in cards.values() for name in card["nvml_names"]]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


@pytest.mark.parametrize("stem", NON_CARDS)
def test_auto_and_cpu_have_the_card_keys_with_no_hardware_figures(stem):
    profile = load(GPU_DIR / f"{stem}.yaml")
    assert list(profile) == KEYS
    assert profile["profile"] == stem
    assert {key: profile[key] for key in LIST_KEYS} == {key: [] for key in LIST_KEYS}
    assert profile["plan_only"] is False
    hardware = [key for key in KEYS if key not in ("profile", "plan_only", *LIST_KEYS)]
    assert {key: profile[key] for key in hardware} == dict.fromkeys(hardware)
