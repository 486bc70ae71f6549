"""mlrollout: canary and blue-green releases of ML models on Kubernetes GPU environments.

The public Python API is deliberately small; the command line (``mlrollout``) is the main
interface. Layers are described in the README and enforced by import-linter.
"""

from __future__ import annotations

from mlrollout.errors import ExitCode, MlrolloutError, SpecError

__version__ = "0.1.0"

__all__ = ["ExitCode", "MlrolloutError", "SpecError", "__version__"]
