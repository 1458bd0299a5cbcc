"""The ``weights`` hyperparameter: how a backbone is initialised, and loading a local state dict.

Values: ``none`` (random initialisation, the default of ``TASK_MODEL_HPARAMS``), ``pretrained`` (the
backbone's published weights, e.g. timm's default ImageNet weights from the Hugging Face Hub),
``pretrained:TAG`` (one of several published sets, e.g. ``pretrained:tv_in1k`` for timm's copy of
torchvision's ResNet-50 weights) or the path of a state dict file (``.pt``/``.pth``/``.bin`` saved
with ``torch.save``, or ``.safetensors``). Parsing and checking need no torch; loading does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from udabench.errors import UdabenchError

NONE = "none"
PRETRAINED = "pretrained"
# Keys a classification checkpoint may nest its weights under.
_NESTED_KEYS = ("state_dict", "model", "module")


def kind(value: str) -> str:
    """``"none"``, ``"pretrained"`` or ``"file"``."""
    if value == NONE:
        return NONE
    if value == PRETRAINED or value.startswith(PRETRAINED + ":"):
        return PRETRAINED
    return "file"


def pretrained_tag(value: str) -> str | None:
    """The tag of ``pretrained:TAG`` (``None`` for plain ``pretrained``)."""
    _, _, tag = value.partition(":")
    return tag or None


def resolve_file(value: str) -> str:
    """The absolute path of a weights file named by ``--set weights=PATH``, checked to exist."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise UdabenchError(
            f"--set weights={value}: no such file; weights takes none, pretrained, pretrained:TAG "
            "or the path of a state dict file"
        )
    return str(path.resolve())


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def fingerprint(path: str) -> str:
    """A content name for a weights file (SHA-256 of its bytes), so a run's key follows the file."""
    stat = os.stat(path)
    cache_key = (path, stat.st_size, stat.st_mtime_ns)
    if cache_key not in _FINGERPRINTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _FINGERPRINTS[cache_key] = f"sha256:{digest.hexdigest()[:16]}"
    return _FINGERPRINTS[cache_key]


def read_state_dict(path: str, what: str):
    """The tensors of a state dict file (``torch.load`` with ``weights_only=True``, or safetensors)."""
    import torch

    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UdabenchError(f"{what}: cannot read the weights file {path} ({type(exc).__name__}: {detail})") from None
    for key in _NESTED_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict) and not any(
                isinstance(v, torch.Tensor) for v in state.values()):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UdabenchError(f"{what}: the weights file {path} holds no state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _names(keys, limit: int = 3) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_into(module, path: str, what: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load the state dict file ``path`` into ``module``; every tensor must fit, none may be missing.

    Keys under ``ignore_prefixes`` (e.g. an ImageNet classifier the backbone does not have) are
    dropped from the file first. A mismatch is one line naming the first keys at fault.
    """
    state = read_state_dict(path, what)
    state = {k: v for k, v in state.items() if not any(k == p or k.startswith(p + ".") for p in ignore_prefixes)}
    own = module.state_dict()
    # Checkpoints saved before batch norm counted its batches lack these; torch fills them in.
    missing = {k for k in set(own) - set(state) if not k.endswith("num_batches_tracked")}
    unexpected = set(state) - set(own)
    wrong = [k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        problems = []
        if wrong:
            k = sorted(wrong)[0]
            problems.append(f"{len(wrong)} of different shape (e.g. {k}: file {tuple(state[k].shape)}, "
                            f"backbone {tuple(own[k].shape)})")
        if missing:
            problems.append(f"{len(missing)} missing from the file ({_names(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} the backbone lacks ({_names(unexpected)})")
        raise UdabenchError(f"{what}: the weights file {path} does not fit the backbone: "
                            + "; ".join(problems) + " (a state dict of the same architecture is needed)")
    module.load_state_dict(state, strict=True)
