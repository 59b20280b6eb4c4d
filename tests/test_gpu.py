"""Environment detection: NVML (faked for a card we lack), the catalog mapping, and the checks."""

import pytest

import fake_nvml
from conftest import ROOT
from pipeline.gpu.catalog import load_catalog, match_profile
from pipeline.gpu.checks import arch_problems, driver_problems, environment_problems, runs_on
from pipeline.gpu.detect import environment_report, nvml_gpus
from pipeline.gpu.policy import resolve_plan

CATALOG = load_catalog(ROOT / "conf")
CU128_ARCHES = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
# NVML lists GPUs by PCI bus: here the 1080 Ti (bus 1) before the 3090 (bus 2); CUDA may see them otherwise.
TWO_CARDS = [fake_nvml.card("NVIDIA GeForce GTX 1080 Ti", (6, 1), 11, uuid="GPU-1080aaaa-0000-0000-0000-000000000001"),
             fake_nvml.card("NVIDIA GeForce RTX 3090", (8, 6), 24, uuid="GPU-3090bbbb-0000-0000-0000-000000000002")]


@pytest.fixture(autouse=True)
def cuda_environment_unset(monkeypatch):
    """No CUDA_VISIBLE_DEVICES or CUDA_DEVICE_ORDER from the shell that runs the tests."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def test_report_on_this_machine_is_stable_and_complete():
    first, second = environment_report(CATALOG), environment_report(CATALOG)
    assert first == second
    assert first["packages"]["torch"] and first["packages"]["lightning"]
    if not first["gpus"]:
        assert first["torch"]["cuda_available"] is False and first["gpu_profile"] is None


def test_no_nvml_library_means_no_gpus():
    import pynvml

    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has NVML")
    except pynvml.NVMLError:
        assert nvml_gpus() == (None, [])


def test_fake_nvml_rtx3090_maps_to_the_rtx3090_profile(monkeypatch):
    fake_nvml.install(monkeypatch)
    driver, gpus = nvml_gpus()
    assert driver == "560.35.03"
    assert gpus == [{"index": 0, "name": "NVIDIA GeForce RTX 3090", "compute_capability": "8.6",
                     "memory_total_gib": 24.0, "uuid": "GPU-00000000-0000-0000-0000-000000000000",
                     "pci_bus_id": "00000000:01:00.0", "mig": []}]
    assert environment_report(CATALOG)["gpu_profile"]["profile"] == "rtx3090"


def planned_card(monkeypatch, **environ) -> tuple[dict, dict]:
    """The environment report's CUDA device 0 and profile for TWO_CARDS under these CUDA_* variables."""
    fake_nvml.install(monkeypatch, cards=TWO_CARDS)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    report = environment_report(CATALOG)
    return report["cuda_device_0"], report["gpu_profile"]


def test_without_cuda_variables_cuda_device_0_is_the_first_on_the_pci_bus_and_the_assumption_is_said(monkeypatch):
    device_0, profile = planned_card(monkeypatch)
    assert (device_0["index"], device_0["visible"], profile["profile"]) == (0, 2, "gtx1080ti")
    assert device_0["why"] == ("CUDA device 0 is GPU 0 (NVIDIA GeForce GTX 1080 Ti): CUDA_VISIBLE_DEVICES is unset, "
                               "in PCI bus order (assumed for CUDA's default order, fastest first; "
                               "set CUDA_DEVICE_ORDER=PCI_BUS_ID to make it so)")


@pytest.mark.parametrize("visible, index, count", [
    ("1", 1, 1), ("1,0", 1, 2), ("0", 0, 1), (" 1 ", 1, 1),
    ("GPU-3090bbbb-0000-0000-0000-000000000002", 1, 1), ("GPU-3090", 1, 1), ("GPU-1080a,1", 0, 2),
    ("0,5,1", 0, 1), ("1,-1,0", 1, 1), ("1,GPU-,0", 1, 1),  # an entry naming no GPU (or two) hides the rest
])
def test_cuda_visible_devices_picks_the_card_to_plan_for(monkeypatch, visible, index, count):
    device_0, profile = planned_card(monkeypatch, CUDA_VISIBLE_DEVICES=visible, CUDA_DEVICE_ORDER="PCI_BUS_ID")
    assert (device_0["index"], device_0["visible"]) == (index, count)
    assert profile["profile"] == ["gtx1080ti", "rtx3090"][index]
    assert device_0["why"].endswith(f"CUDA_VISIBLE_DEVICES={visible}, in PCI bus order (CUDA_DEVICE_ORDER=PCI_BUS_ID)")


@pytest.mark.parametrize("visible", ["", "2", "-1", "GPU-", "GPU-9999", "MIG-1234"])
def test_cuda_visible_devices_naming_no_gpu_first_leaves_a_cpu_plan(monkeypatch, compose, visible):
    device_0, profile = planned_card(monkeypatch, CUDA_VISIBLE_DEVICES=visible)
    assert device_0 == {"index": None, "visible": 0, "why": f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"}
    assert profile is None
    report = environment_report(CATALOG)
    report["torch"]["cuda_available"] = True  # even were torch able to use CUDA
    assert environment_problems(report, "auto", plan_only=False) == []
    cfg = compose("gpu=auto")
    plan = resolve_plan(report, cfg.gpu, cfg.model, cfg.train, cfg.finetune, cfg.strategy)
    assert plan["target"] == "cpu" and f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU" in plan["reasons"]["accelerator"]


def test_torch_cuda_device_0_settles_the_card_whatever_the_variables_say(monkeypatch):
    """CUDA's fastest-first order put the 3090 (PCI bus 2) first: torch's cuda:0 says so, matched by PCI bus."""
    fake_nvml.install_cuda(monkeypatch, device_count=2, device_0_bus=2)
    device_0, profile = planned_card(monkeypatch)
    assert (device_0["index"], device_0["visible"], profile["profile"]) == (1, 2, "rtx3090")
    assert device_0["why"] == "CUDA device 0 is GPU 1 (NVIDIA GeForce RTX 3090): torch's cuda:0 is at PCI 00000000:02:00.0"


A100_MIG = fake_nvml.card("NVIDIA A100-SXM4-80GB", (8, 0), 80, uuid="GPU-a100cccc-0000-0000-0000-000000000003",
                          mig=[("MIG-5c8d1e2f-0000-0000-0000-000000000031", 39.5),   # a 3g.40gb instance
                               ("MIG-6d9e2f30-0000-0000-0000-000000000032", 9.5)])   # a 1g.10gb instance


@pytest.mark.parametrize("visible, uuid, gib", [
    ("MIG-5c8d", "MIG-5c8d1e2f-0000-0000-0000-000000000031", 39.5),  # named: its own memory
    ("MIG-6d9e", "MIG-6d9e2f30-0000-0000-0000-000000000032", 9.5),
    (None, "MIG-6d9e2f30-0000-0000-0000-000000000032", 9.5),          # none named: the smallest, to be safe
    ("MIG-", "MIG-6d9e2f30-0000-0000-0000-000000000032", 9.5),        # a prefix of both names neither
])
def test_a_mig_instance_is_planned_with_its_own_memory(monkeypatch, visible, uuid, gib):
    fake_nvml.install(monkeypatch, cards=[A100_MIG])
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    report = environment_report(CATALOG)
    assert report["gpus"][0]["mig"] == [{"uuid": u, "memory_total_gib": g} for u, g in A100_MIG["mig"]]
    assert report["cuda_device_0"]["mig_instance"] == uuid and f"planned with its {gib} GiB" in report["cuda_device_0"]["why"]
    assert ("named by CUDA_VISIBLE_DEVICES" in report["cuda_device_0"]["why"]) == (visible not in (None, "MIG-"))
    assert report["gpu_profile"]["profile"] == "a100_80gb" and report["gpu_profile"]["vram_gb"] == gib


def test_a_mig_instance_names_its_gpu_among_others(monkeypatch):
    fake_nvml.install(monkeypatch, cards=[TWO_CARDS[0], A100_MIG])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-6d9e")
    report = environment_report(CATALOG)
    assert report["gpus"][0]["mig"] == []
    assert report["cuda_device_0"]["index"] == 1 and report["cuda_device_0"]["mig_instance"].startswith("MIG-6d9e")


def test_unknown_card_gets_a_profile_derived_from_nvml(monkeypatch):
    fake_nvml.install(monkeypatch, name="NVIDIA GeForce GTX 1050 Ti", cc=(6, 1), memory_gib=4)
    profile = environment_report(CATALOG)["gpu_profile"]
    assert profile["profile"] == "derived" and profile["arch"] == "pascal"
    assert profile["vram_gb"] == 4.0 and profile["bf16"] is False and profile["fp32_tflops"] is None
    assert set(profile) == set(CATALOG["rtx3090"])


def test_nvml_names_match_regardless_of_case_and_spacing():
    assert match_profile("nvidia  geforce rtx 4090", CATALOG)["profile"] == "rtx4090"
    assert match_profile("Tesla T4", CATALOG)["profile"] == "t4"
    assert match_profile("NVIDIA Quadro P1000", CATALOG) is None


def test_cu128_build_on_a_pascal_card_is_flagged_with_the_wheel_to_use():
    (problem,) = arch_problems(CU128_ARCHES, "6.1", "NVIDIA GeForce GTX 1080 Ti", "12.8")
    assert problem.level == "error" and "sm_61" in problem.what and "cu126" in problem.fix


@pytest.mark.parametrize("arches, cc", [(CU128_ARCHES, "8.6"), (CU128_ARCHES, "8.9"),
                                        (["sm_50", "sm_60", "sm_70", "sm_80"], "6.1"),
                                        (["sm_80", "compute_80"], "9.0")])
def test_builds_that_run_the_card_pass(arches, cc):
    assert arch_problems(arches, cc, "card", "12.6") == []


@pytest.mark.parametrize("arch, cc, runs", [
    ("sm_86", (8, 6), True), ("sm_80", (8, 9), True), ("sm_86", (8, 0), False), ("sm_90", (10, 0), False),
    ("compute_90", (12, 0), True), ("compute_90", (8, 9), False), ("sm_100", (10, 3), True),
    ("sm_90a", (9, 0), True), ("sm_90a", (10, 0), False), ("sm_100a", (10, 3), False), ("compute_100a", (10, 0), True),
    ("compute_90a", (10, 0), False), ("compute_100a", (12, 0), False),
    ("sm_100f", (10, 3), True), ("sm_100f", (10, 0), True), ("sm_103f", (10, 0), False), ("sm_100f", (12, 0), False),
    ("sm_120f", (12, 1), True), ("compute_100f", (10, 3), True), ("compute_100f", (12, 0), False),
    ("sm_120", (12, 1), True), ("sm_121", (12, 0), False),
    ("gfx90a", (8, 6), True),  # a form torch may add later: not ruled out
])
def test_each_arch_form_runs_where_nvidia_documents_it(arch, cc, runs):
    assert runs_on(arch, *cc) is runs


def test_suffixed_arch_lists_are_read_not_crashed_on():
    hopper_blackwell = ["sm_90a", "sm_100a", "sm_100f", "sm_120f", "compute_120f"]
    assert arch_problems(hopper_blackwell, "10.3", "NVIDIA B300", "12.9") == []
    assert arch_problems(hopper_blackwell, "12.1", "NVIDIA GB10", "12.9") == []
    (problem,) = arch_problems(hopper_blackwell, "8.9", "NVIDIA GeForce RTX 4090", "12.9")
    assert problem.code == "env-no-kernels" and "sm_89" in problem.what and "cu128 or newer" in problem.fix


def test_driver_below_the_compatibility_floor_is_an_error():
    (problem,) = driver_problems("520.61.05", "12.8", "8.6")
    assert problem.level == "error" and "570.26" in problem.what


def test_driver_in_minor_version_compatibility_is_a_warning():
    (problem,) = driver_problems("550.54.14", "12.8", "8.6")
    assert problem.level == "warning" and ">= 570.26" in problem.fix


def test_blackwell_needs_driver_570():
    problems = driver_problems("560.35.03", "12.6", "12.0")
    assert [p.level for p in problems] == ["error"] and "Blackwell" in problems[0].what


def test_requested_profile_must_be_the_detected_card_unless_plan_only(monkeypatch):
    fake_nvml.install(monkeypatch, name="NVIDIA GeForce RTX 4090", cc=(8, 9))
    report = environment_report(CATALOG)
    report["torch"]["cuda_available"] = True  # the fake card is usable by torch
    (problem,) = environment_problems(report, "rtx3090", plan_only=False)
    assert problem.level == "error" and "rtx4090" in problem.what and "gpu.plan_only=true" in problem.fix
    assert environment_problems(report, "rtx3090", plan_only=True) == []
    assert environment_problems(report, "rtx4090", plan_only=False) == []


def test_card_profile_without_any_gpu_is_an_error_unless_plan_only():
    report = {"gpus": [], "torch": {"cuda_available": False, "cuda_build": None, "arch_list": []},
              "nvidia_driver": None, "gpu_profile": None,
              "cuda_device_0": {"index": None, "visible": 0, "why": "NVML found no NVIDIA GPU"}}
    (problem,) = environment_problems(report, "rtx3090", plan_only=False)
    assert "no usable NVIDIA GPU" in problem.what
    assert environment_problems(report, "auto", plan_only=False) == []


def test_several_gpus_and_a_cpu_only_torch_are_warned_about(monkeypatch):
    fake_nvml.install(monkeypatch, count=2)
    problems = environment_problems(environment_report(CATALOG), "auto", plan_only=False)
    texts = [p.what for p in problems if p.level == "warning"]
    assert "2 GPUs visible; strategy=auto trains on CUDA device 0, NVIDIA GeForce RTX 3090" in texts
    assert any("torch" in text and "cannot use it" in text for text in texts)


def test_one_visible_gpu_of_two_is_no_multi_gpu_warning(monkeypatch):
    fake_nvml.install(monkeypatch, cards=TWO_CARDS)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    problems = environment_problems(environment_report(CATALOG), "auto", plan_only=False)
    assert [p.code for p in problems] == ["env-torch-cpu-only"] and "RTX 3090" in problems[0].what
