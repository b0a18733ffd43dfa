"""Reproduction of the paper's claims on Fashion-MNIST (docs/reproduction.md)."""
