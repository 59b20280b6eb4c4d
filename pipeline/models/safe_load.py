"""Read a saved model, tokenizer or config safely.

It runs a model's own Python code only when `model.trust_remote_code` says so, never unpickles objects
(weights are safetensors, or plain tensors that `torch.load(weights_only=True)` accepts), and turns
unreadable files into one-line errors that name the stage to re-run.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

from safetensors import SafetensorError, safe_open
from transformers import AutoConfig, AutoTokenizer

from pipeline.core import paths
from pipeline.core.errors import PipelineError

REMOTE_CODE_CONFIGS = ("config.json", "tokenizer_config.json")  # where an `auto_map` names the folder's own code


def load_pretrained(auto_class, location: str | Path, trust_remote_code: bool = False, **kwargs):
    """`auto_class.from_pretrained(location)`, safely (AutoConfig, AutoTokenizer or an AutoModel class).

    A local folder is checked first: every JSON file and safetensors header must read (else
    `model-corrupt`), and one whose config asks for its own code (`auto_map`) needs trust_remote_code
    (else `model-remote-code`, before any of that code is imported). Pickled weights (pytorch_model.bin)
    load only as plain tensors; anything else in the pickle is refused (`model-unsafe-weights`).
    """
    folder = Path(location)
    if folder.is_dir():
        _check_folder(folder, trust_remote_code)
    if auto_class not in (AutoConfig, AutoTokenizer):
        kwargs["weights_only"] = True  # transformers 5's default, pinned: a pickle may hold tensors only
    try:
        return auto_class.from_pretrained(location, trust_remote_code=trust_remote_code, **kwargs)
    except pickle.UnpicklingError as err:
        weights = ", ".join(str(path) for path in sorted(folder.glob("*.bin"))) or str(location)
        reason = re.search(r"WeightsUnpickler error: ([^.]+)", str(err))  # torch names the refused object
        raise PipelineError("model-unsafe-weights", f"the pickled weights of '{location}' hold more than tensors, and "
                            f"loading them could run code ({reason[1] if reason else err})", weights,
                            "load weights you trust converted to safetensors (model.safetensors), or use a model "
                            "that ships model.safetensors") from None
    except ValueError as err:  # a hub model with an unknown model type and its own code
        if "trust_remote_code" not in str(err):
            raise
        raise _remote_code(f"'{location}'", f"https://huggingface.co/{location}") from None


def _check_folder(folder: Path, trust_remote_code: bool) -> None:
    """Raise model-corrupt for an unreadable JSON file or safetensors header, model-remote-code for untrusted code."""
    for path in sorted(folder.glob("*.json")):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _corrupt(folder, path, err) from None
        if path.name in REMOTE_CODE_CONFIGS and "auto_map" in content and not trust_remote_code:
            raise _remote_code(f"folder '{folder}'", f"{path} (auto_map: {json.dumps(content['auto_map'])})")
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(path, framework="pt"):
                pass
        except SafetensorError as err:
            raise _corrupt(folder, path, err) from None


def _remote_code(model: str, where: str) -> PipelineError:
    return PipelineError("model-remote-code", f"model {model} needs its own Python code to load, and "
                         "model.trust_remote_code is false", where,
                         "read that code first; if you trust it, -S model.trust_remote_code=true")


def _corrupt(folder: Path, path: Path, err: Exception) -> PipelineError:
    stage = paths.writer(folder)
    fix = (f"re-create it: dvc repro -f -s {stage}" if stage else
           "re-download the model, or save it again with save_pretrained()")
    return PipelineError("model-corrupt", f"cannot read {path.name} (truncated or corrupt: {err})", str(path), fix)
