"""Kernel generation for convert-dispatch-to-tiled: the kernel builder (kernel.py), element-wise
materialization of fused regions (materialize.py), and one schedule builder per strategy: elementwise.py,
row.py, gemv.py and gemm.py (contractions, sharing contraction.py; gemv.py's int8 activations in int8_activations.py), attention.py and flash_attention.py,
sampling.py; kv_cache.py reads and writes KV-cache rows."""
