"""Benchmarks: the kit against a plain PyTorch loop and hand-written ``transformers.Trainer`` code.

Entry point: ``python benchmarks/run.py [--quick]`` (see ``run.py``); one configuration ("arm") per process
(``arms.py``), results turned into JSON, a markdown table and plots by ``report.py``.
"""
