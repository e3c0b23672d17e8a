"""The performance suite: ``python -m benchmarks [--smoke] [--only NAME]``.

Each ``benchmarks/bench_*.py`` module defines ``run(smoke: bool) -> list[dict]``; every dict is one
measurement with keys ``name``, ``value``, ``unit`` and optionally ``baseline`` (the figure it is
measured against, same run), ``ratio``, ``target`` (e.g. ">= 1.5x") and ``met`` (bool).
"""
