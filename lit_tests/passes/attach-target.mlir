// RUN: rusty-opt %s -p 'attach-target' --split-input-file | filecheck %s --check-prefix=WEBGPU
// RUN: rusty-opt %s -p 'attach-target{target=nvidia}' --split-input-file | filecheck %s --check-prefix=NVIDIA
// RUN: rusty-opt %s -p 'attach-target{target=apple}' --split-input-file | filecheck %s --check-prefix=APPLE
// RUN: rusty-opt %s -p 'attach-target{target=nvidia max-invocations=512 max-workgroup-memory=32768 subgroup-size=16 f16=0 int-dot=0}' --split-input-file | filecheck %s --check-prefix=LIMITS
// RUN: rusty-opt %s -p 'attach-target{target=webgpu subgroup-size=32 f16=1 int-dot=1}' --split-input-file | filecheck %s --check-prefix=FEATURES
// RUN: rusty-opt %s -p 'attach-target{target=nvidia overwrite=true}' --split-input-file | filecheck %s --check-prefix=OVERWRITE

// A module without a target gets the named one, every field printed in order. The default is webgpu:
// WebGPU's guaranteed limits and no optional feature. The module's body is left as it was.
// WEBGPU:      builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = false, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// WEBGPU-NEXT:   func.func @no_target() {
// WEBGPU-NEXT:     func.return
// WEBGPU-NEXT:   }
// WEBGPU-NEXT: }
// NVIDIA:      builtin.module attributes {rgpu.target = #rgpu.target<"nvidia", max_invocations = 1024, max_workgroup_memory = 49152, max_workgroups_per_dim = 65535, subgroup_size = 32, f16 = true, int_dot = true, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// NVIDIA-NEXT:   func.func @no_target() {
// APPLE:       builtin.module attributes {rgpu.target = #rgpu.target<"apple", max_invocations = 1024, max_workgroup_memory = 32768, max_workgroups_per_dim = 65535, subgroup_size = 32, f16 = true, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// APPLE-NEXT:    func.func @no_target() {
// Options replace single fields of the named target (the driver passes an adapter's smaller limits);
// the fields not given keep the named target's values.
// LIMITS:      builtin.module attributes {rgpu.target = #rgpu.target<"nvidia", max_invocations = 512, max_workgroup_memory = 32768, max_workgroups_per_dim = 65535, subgroup_size = 16, f16 = false, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// LIMITS-NEXT:   func.func @no_target() {
// FEATURES:    builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 32, f16 = true, int_dot = true, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// FEATURES-NEXT: func.func @no_target() {
// OVERWRITE:   builtin.module attributes {rgpu.target = #rgpu.target<"nvidia", max_invocations = 1024, max_workgroup_memory = 49152, max_workgroups_per_dim = 65535, subgroup_size = 32, f16 = true, int_dot = true, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// OVERWRITE-NEXT: func.func @no_target() {
func.func @no_target() {
  func.return
}

// -----

// A module that already has a target keeps it (fields it leaves out take their defaults) whatever
// target and fields the options name; with overwrite=true the named target replaces it.
// WEBGPU:      builtin.module attributes {rgpu.target = #rgpu.target<"apple", max_invocations = 128, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = false, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// WEBGPU-NEXT:   func.func @has_target() {
// NVIDIA:      builtin.module attributes {rgpu.target = #rgpu.target<"apple", max_invocations = 128, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = false, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// NVIDIA-NEXT:   func.func @has_target() {
// LIMITS:      builtin.module attributes {rgpu.target = #rgpu.target<"apple", max_invocations = 128, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = false, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// LIMITS-NEXT:   func.func @has_target() {
// OVERWRITE:   builtin.module attributes {rgpu.target = #rgpu.target<"nvidia", max_invocations = 1024, max_workgroup_memory = 49152, max_workgroups_per_dim = 65535, subgroup_size = 32, f16 = true, int_dot = true, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
// OVERWRITE-NEXT: func.func @has_target() {
builtin.module attributes {rgpu.target = #rgpu.target<"apple", max_invocations = 128>} {
  func.func @has_target() {
    func.return
  }
}
