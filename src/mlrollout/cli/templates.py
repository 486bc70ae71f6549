"""Where commands find AnalysisTemplates when ``--templates`` is not given.

Part of the ``cli`` layer: ``./analyses`` when the working directory has one (a checkout of
this repository, or a project keeping its own library there), else the library shipped in
the package (``mlrollout/analyses``, the same files as the repository's ``analyses/``), so
that ``lint``, ``plan``, ``analyze`` and ``promote`` work from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

__all__ = ["TEMPLATES", "default_template_dirs", "packaged_templates"]

TEMPLATES = typer.Option(
    None,
    "--templates",
    "-t",
    help="AnalysisTemplate directory (default ./analyses, else the shipped library).",
)
"""``--templates``/``-t`` of the commands that load templates as ``default_template_dirs``."""


def packaged_templates() -> Path:
    """The directory of templates installed with the package."""
    return Path(str(resources.files("mlrollout").joinpath("analyses")))


def default_template_dirs(given: list[Path] | None = None) -> list[Path]:
    """``given`` when non-empty, else ``./analyses`` if present, else the packaged library."""
    if given:
        return list(given)
    here = Path("analyses")
    if here.is_dir():
        return [here]
    shipped = packaged_templates()
    return [shipped] if shipped.is_dir() else []
