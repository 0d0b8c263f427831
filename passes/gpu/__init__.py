"""Gpu-level legalization passes: they take gpu-level IR to gpu-level IR the emitters and the runtime accept."""
