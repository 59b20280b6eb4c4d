"""`python -m pipeline.plan` and `python -m pipeline.advise` work offline for any catalog card."""

import sys

import pytest
import yaml

from conftest import ROOT, run
from pipeline.advise import SERIES, advise, chart, table
from pipeline.gpu.catalog import derived_profile, load_catalog
from pipeline.gpu.throughput import FIT_ERROR, training_flops_per_sample


def test_plan_prints_settings_reasons_and_memory_for_a_card_this_machine_lacks():
    result = run([sys.executable, "-m", "pipeline.plan", "gpu=rtx3090", "model=bert"], ROOT)
    plan = yaml.safe_load(result.stdout)
    assert plan["target"] == "rtx3090" and plan["settings"]["precision"] == "bf16-mixed"
    assert set(plan["settings"]) == set(plan["reasons"])
    assert {"weights", "gradients", "optimizer_states", "activations", "cuda_context", "total"} == set(plan["memory_gib"])


def test_plan_error_is_one_line():
    result = run([sys.executable, "-m", "pipeline.plan", "gpu=rtx3090", "model=bert", "model.max_seq_len=4096"],
                 ROOT, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "model.max_seq_len" in result.stderr


def test_advise_help_after_overrides_prints_the_usage_and_a_bad_argument_is_one_line(tmp_path):
    helped = run([sys.executable, "-m", "pipeline.advise", "model=bert", "--help"], tmp_path)
    assert helped.stdout.startswith("`python -m pipeline.advise") and list(tmp_path.iterdir()) == []
    bad = run([sys.executable, "-m", "pipeline.advise", "model=bert", "--ot", "x"], tmp_path, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error[config-bad-override]: cannot read '--ot'")
    assert len(bad.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_advise_covers_every_card_and_writes_table_and_chart(compose, tmp_path):
    cfg = compose("model=bert", "model.max_seq_len=512")
    rows = advise(cfg)
    assert len(rows) == len(list((ROOT / "conf/gpu").glob("*.yaml"))) - 2
    by_card = {row["card"]: row for row in rows}
    assert by_card["gtx1080ti"]["precision"] == "32-true" and by_card["h100_sxm"]["precision"] == "bf16-mixed"
    assert by_card["h100_sxm"]["samples_per_s"] > by_card["rtx3090"]["samples_per_s"] > by_card["gtx1060"]["samples_per_s"]
    assert [row["series"] for row in rows] == sorted((row["series"] for row in rows), key=SERIES.index)
    text = table(rows, cfg)
    assert "throughput model fitted to Lambda's published BERT fine-tuning runs" in text
    rtx3090 = next(line for line in text.splitlines() if line.startswith("| rtx3090 |"))
    assert f"| ±{FIT_ERROR['ampere']:.0%} |" in rtx3090 and "| ampere |" in rtx3090
    assert "| ada (no blackwell card measured) |" in next(line for line in text.splitlines() if "| rtx5090 |" in line)

    # from a directory that is not the project, with --out
    result = run([sys.executable, "-m", "pipeline.advise", "model=bert", "--out", "charts"], tmp_path)
    assert "| rtx4090 |" in result.stdout
    assert (tmp_path / "charts/bert_seq128.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "charts/bert_seq128.md").read_text().count("\n| ") == len(rows) + 1  # + header
    assert sorted(path.name for path in tmp_path.iterdir()) == ["charts"]


def test_advise_shows_a_card_with_unknown_figures_without_an_estimate(compose, tmp_path, monkeypatch):
    catalog = load_catalog(ROOT / "conf")
    unknown = derived_profile({"name": "NVIDIA GeForce RTX 3050", "compute_capability": "8.6", "memory_total_gib": 8},
                              catalog["rtx3090"])
    monkeypatch.setattr("pipeline.advise.load_catalog", lambda: {**catalog, "rtx3050": unknown})
    cfg = compose("model=bert")
    rows = advise(cfg)
    keys = [row["card"] for row in rows]
    assert keys.index("rtx3050") == keys.index("rtx3090ti") + 1  # unknown FP32 TFLOPS: last of its series
    row = rows[keys.index("rtx3050")]
    assert row["fits"] and row["samples_per_s"] is None
    assert "| rtx3050 | RTX 30 | 8 | 8.6 | yes | bf16-mixed | 16 | False |" in table(rows, cfg)
    chart(rows, cfg, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


@pytest.mark.parametrize("seq_len", [128, 512])
def test_training_flops_match_the_published_transformer_formula(compose, seq_len):
    """Narayanan et al. 2021 ("Efficient Large-Scale Language Model Training on GPU Clusters", eq. 3): a
    training iteration costs 72 B s l h^2 (1 + s/(6h) + V/(12 l h)) FLOPs. A classifier has no vocabulary
    head, so per sample (B = 1) that is 72 s l h^2 (1 + s/(6h)); it counts 12 l h^2 weights per layer stack
    where the estimate counts BERT-base's exact non-embedding parameters (biases, norms, pooler): within 2 %."""
    s, l, h = seq_len, 12, 768
    published = 72 * s * l * h**2 * (1 + s / (6 * h))  # 6.70e10 at seq 128, 2.90e11 at seq 512
    assert training_flops_per_sample(compose("model=bert").model.arch, seq_len) == pytest.approx(published, rel=0.02)
