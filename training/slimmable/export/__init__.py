"""Export a slimmable model to a bundle: shared full-width weights stored once, per-width switchable
BN statistics, the recipe to rebuild each width's graph, golden vectors, and a manifest.
See docs/bundle-format.md."""
