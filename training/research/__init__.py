"""Probes and diagnostics of the slimmable detector and its scene namer (docs/detection.md). This
package imports the library (``slimmable``); the library never imports it. Run its CLIs from
training/ as ``python3 -m research.<module>``.

Importing the package registers its model variants with ``slimmable.models``, so the library's
loaders (checkpoints and bundles) build them as well.
"""
from . import fine_class_detector  # noqa: F401  (registers "fine_class_detector")
