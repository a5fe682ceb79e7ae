"""Import the project's scripts as modules in tests (their folders are not packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: str, module_name: str) -> ModuleType:
    """Run ``ROOT / path`` as the module ``module_name`` (registered in ``sys.modules``, where
    dataclasses look their module up) and return it."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
