"""The command line: parse, call the layers below, render, and exit with the right code.

Top layer. One module per command group registers its commands on the typer app in
``app.py``; ``app.main`` is the single place where ``MlrolloutError`` becomes an exit code
and a one-line message on stderr.
"""
