"""Kernel generation for convert-dispatch-to-tiled: the kernel builder, weight decoding,
element-wise materialization of fused regions, and the four strategies."""
