"""Backends: the WGSL (and later MSL) emitters and the wgpu runtime."""
