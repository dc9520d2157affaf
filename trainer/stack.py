"""What the trainer would run with (`labeler-train env`): the training stack's versions, torch's threads and
devices, and which embedded models are installed.

Light: torch is imported only once the stack is known to be installed, so a missing extra is one line.
"""

from __future__ import annotations

import importlib.metadata
import sys

from labeler import __version__
from trainer.errors import TrainerError

TRAINING_STACK = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")


def stack_report() -> dict:
    packages = {name: _installed_version(name) for name in TRAINING_STACK}
    missing = [name for name, version in packages.items() if version is None]
    if missing:
        raise TrainerError(
            f"the training stack is not installed ({', '.join(missing)} missing): pip install 'labeler[train]'"
        )
    import torch

    from trainer.models import EMBEDDED_MODELS

    return {
        "labeler": __version__,
        "python": sys.version.split()[0],
        **packages,
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": torch.cuda.device_count(),
        "embedded_models": {name: _installed_version(pkg) for name, pkg in EMBEDDED_MODELS.items()},
    }


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
