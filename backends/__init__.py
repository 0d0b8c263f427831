"""Backends: the WGSL and MSL emitters (one C-like printer, a table per language), the schedule emitter and the wgpu runtime."""
