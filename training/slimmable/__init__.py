"""Slimmable networks: shared weights that run at several widths, each with switchable BatchNorm."""
