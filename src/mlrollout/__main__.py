"""Allows ``python -m mlrollout``."""

from mlrollout.cli.app import main

main()
