// RUN: not rusty-translate --to-wgsl %s --split-input-file 2>&1 | filecheck %s
// What the upstream gpu syntax may say that the emitters do not take: each a located error.

// CHECK: upstream-kernel-invalid.mlir:7:5: error: 'gpu.func' op only kernels are printed (mark a kernel with gpu.kernel, or inline device functions first)
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @device_function(%arg0: memref<4xf32>) attributes {known_block_size = array<i32: 4, 1, 1>} {
      gpu.return
    }
  }
}

// -----

// CHECK: upstream-kernel-invalid.mlir:18:53: error: gpu.func workgroup(...) attributions are not supported: allocate workgroup memory with memref.alloca in address space 3 inside the kernel
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @shared(%arg0: memref<4xf32>) workgroup(%w : memref<4xf32, #gpu.address_space<workgroup>>) kernel {
      gpu.return
    }
  }
}

// -----

// CHECK: error: 'gpu.func' op kernel has no gpu.known_block_size (upstream: known_block_size), which gives its workgroup size
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @no_size(%arg0: memref<4xf32>) kernel {
      gpu.return
    }
  }
}

// -----

// CHECK: error: expected the dimension x, y or z, got 'w'
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @bad_dim(%arg0: memref<4xf32>) kernel attributes {known_block_size = array<i32: 4, 1, 1>} {
      %0 = gpu.thread_id  w
      gpu.return
    }
  }
}

// -----

// CHECK: error: async gpu.launch_func (tokens, dependencies) is not supported
module attributes {gpu.container_module} {
  func.func @host() {
    %c1 = arith.constant 1 : index
    %t = gpu.launch_func async @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}
