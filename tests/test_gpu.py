"""Environment detection and the plan resolve derives from it."""

import pytest
from omegaconf import OmegaConf

import fake_nvml
from pipeline.gpu.detect import environment_report, nvml_gpus
from pipeline.gpu.policy import resolve_plan


def env_with(cc: str | None, cuda: bool = True) -> dict:
    gpus = [{"index": 0, "name": "card", "compute_capability": cc, "memory_total_gib": 24.0}] if cc else []
    return {"torch": {"cuda_available": cuda, "cuda_build": "12.6"}, "gpus": gpus}


def plan_for(env, profile="auto", global_batch=16):
    return resolve_plan(env, OmegaConf.create({"profile": profile}),
                        OmegaConf.create({"global_batch_size": global_batch}))


def test_report_on_this_machine_is_stable_and_complete():
    first, second = environment_report(), environment_report()
    assert first == second
    assert first["packages"]["torch"] and first["packages"]["lightning"]
    if not first["torch"]["cuda_available"]:
        assert first["torch"]["device_count"] == 0


def test_no_nvml_library_means_no_gpus():
    import pynvml

    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has NVML")
    except pynvml.NVMLError:
        assert nvml_gpus() == (None, [])


def test_fake_nvml_3090_is_reported(monkeypatch):
    fake_nvml.install(monkeypatch)
    driver, gpus = nvml_gpus()
    assert driver == "560.35.03"
    assert gpus == [{"index": 0, "name": "NVIDIA GeForce RTX 3090", "compute_capability": "8.6",
                     "memory_total_gib": 24.0}]


def test_cpu_plan_has_a_reason_for_every_setting():
    plan = plan_for(env_with(None, cuda=False))
    assert plan["settings"]["accelerator"] == "cpu"
    assert plan["settings"]["precision"] == "32-true"
    assert plan["settings"]["deterministic"] is True
    assert set(plan["settings"]) == set(plan["reasons"])
    assert all(plan["reasons"].values())


@pytest.mark.parametrize("cc, precision", [("6.1", "32-true"), ("7.5", "16-mixed"), ("8.6", "bf16-mixed"),
                                           ("9.0", "bf16-mixed")])
def test_gpu_precision_follows_compute_capability(cc, precision):
    assert plan_for(env_with(cc))["settings"]["precision"] == precision


def test_cpu_profile_wins_over_a_present_gpu():
    plan = plan_for(env_with("8.6"), profile="cpu")
    assert plan["settings"]["accelerator"] == "cpu"
    assert "requested" in plan["reasons"]["accelerator"]


def test_gpu_torch_cannot_use_falls_back_to_cpu_and_says_why():
    plan = plan_for(env_with("8.6", cuda=False))
    assert plan["settings"]["accelerator"] == "cpu"
    assert "torch cannot use" in plan["reasons"]["accelerator"]
