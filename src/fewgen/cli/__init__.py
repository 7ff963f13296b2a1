"""The ``fewgen`` command line: a thin Typer app over :mod:`fewgen.commands`, :mod:`fewgen.fitting` and
:mod:`fewgen.predict`.

- :mod:`fewgen.cli.app`: the app and its commands (pretrain, backbones, baselines, evaluate, select, augment,
  report), and ``main``, which turns bad input into one sentence and exit code 2;
- :mod:`fewgen.cli.fit_predict`: ``fewgen fit`` and ``fewgen predict``; :mod:`fewgen.cli.suggest`: ``fewgen
  suggest``; :mod:`fewgen.cli.demo`: ``fewgen demo``;
- :mod:`fewgen.cli.options`: the option types the commands share and the parsers of their text.

Nothing here imports torch at module level, so that ``fewgen --help`` answers at once.
"""

from fewgen.cli.app import app, main, run

__all__ = ["app", "main", "run"]
