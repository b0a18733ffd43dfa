"""Slimmable networks: shared weights that run at several widths, each with switchable BatchNorm.

This package is what ships: layers, models, data, training, export, the Fashion-scenes detector and
its scene namer. Probes and diagnostics live in the ``research`` package beside it, which imports
this one; this one never imports it (tests/test_layering.py)."""
