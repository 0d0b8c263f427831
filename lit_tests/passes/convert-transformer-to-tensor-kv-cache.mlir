// RUN: rusty-opt %s -p 'convert-transformer-to-tensor{kv-cache-type=f16 kv-block-size=4}' | filecheck %s --check-prefix=F16
// RUN: rusty-opt %s -p 'convert-transformer-to-tensor{kv-block-size=0}' | filecheck %s --check-prefix=FLAT
// RUN: not rusty-opt %s -p 'convert-transformer-to-tensor{kv-cache-type=q8_0}' 2>&1 | filecheck %s --check-prefix=Q8ROW
// RUN: not rusty-opt %s -p 'convert-transformer-to-tensor{kv-cache-type=bf16}' 2>&1 | filecheck %s --check-prefix=BADTYPE
// RUN: not rusty-opt %s -p 'convert-transformer-to-tensor{kv-block-size=-1}' 2>&1 | filecheck %s --check-prefix=BADBLOCK
// The KV cache's layout options: an f16 cache in blocks of 4 positions, and a contiguous
// (not paged) f32 cache, whose ops take no block table.

// F16:       dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64, element_type = f16, block_size = 4 : i64}
// F16:       dispatch.cache @kv[%{{.*}}] {part = "k"} : memref<?x8xf16>
// F16:       %[[T:.*]] = dispatch.block_table @kv : memref<?xi32>
// F16:       linalg_ext.cache_append {{.*}} pages %[[T]] {block_size = 4 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf16>, memref<?x8xf16>
// F16:       linalg_ext.attention {{.*}} pages %[[T]] {{.*}}block_size = 4 : i64} : tensor<?x16xf32>, memref<?x8xf16>, memref<?x8xf16> -> tensor<?x16xf32>

// FLAT:      dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
// FLAT-NOT:  block_table
// FLAT:      linalg_ext.cache_append %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}} at %{{[^ ]*}} : tensor
// FLAT-NOT:  pages

// Q8ROW:     a q8_0 KV cache needs rows (kv heads x head dim) of a multiple of 64 values, got 8
// BADTYPE:   kv-cache-type must be one of f32, f16, q8_0, got 'bf16'
// BADBLOCK:  kv-block-size must be 0 (not paged) or positive, got -1

tfm.kv_cache @kv {head_dim = 4 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention(%q: tensor<?x16xf32>, %k: tensor<?x8xf32>, %v: tensor<?x8xf32>, %pos: index, %layer: index) -> tensor<?x16xf32> {
  %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x16xf32>
  func.return %o : tensor<?x16xf32>
}
