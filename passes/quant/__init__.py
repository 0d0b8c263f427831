"""Passes on weight storage at the transformer level: compile-time weight quantization."""
