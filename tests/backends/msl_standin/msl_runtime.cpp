// Runs the threads of MSL kernels on the CPU for tests/backends/msl_harness.py: one OS thread per
// GPU thread of a threadgroup, threadgroups one after another, barriers as C++20 std::barrier.
// Compiled once per test session (-std=c++20 -pthread) and linked into each kernel library; the
// kernels themselves are compiled separately against the stand-in <metal_stdlib> (no std there).
#include <barrier>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

extern "C" {
struct rusty_ctx {
  uint32_t lid[3], wid[3], nwg[3], gid[3];
  uint32_t simd_lane, simd_size;
};
typedef void (*rusty_thread_fn)(void* const* buffers, const void* params, const rusty_ctx* ctx);
}

namespace {

constexpr uint32_t kSlotBytes = 8;  // one lane's value in a SIMD-group exchange (up to 8 bytes)

struct Group {  // what the threads of one threadgroup share
  explicit Group(uint32_t threads, uint32_t simd_width) : barrier(threads), slots(threads * kSlotBytes) {
    for (uint32_t first = 0; first < threads; first += simd_width) {
      const uint32_t n = threads - first < simd_width ? threads - first : simd_width;
      simd.push_back(std::make_unique<std::barrier<>>(n));
      simd_count.push_back(n);
    }
  }
  std::barrier<> barrier;
  std::vector<std::unique_ptr<std::barrier<>>> simd;
  std::vector<uint32_t> simd_count;
  std::vector<unsigned char> slots;
};

thread_local Group* current = nullptr;
thread_local uint32_t current_thread = 0, current_simd_width = 32;

}  // namespace

extern "C" void rusty_threadgroup_barrier(unsigned) { current->barrier.arrive_and_wait(); }

// Every lane of the caller's SIMD-group publishes `size` bytes; each gets all lanes' values in lane order.
extern "C" void rusty_simd_gather(const void* mine, unsigned size, void* lanes, unsigned* count) {
  Group& g = *current;
  const uint32_t group = current_thread / current_simd_width, first = group * current_simd_width;
  std::memcpy(&g.slots[current_thread * kSlotBytes], mine, size);
  g.simd[group]->arrive_and_wait();  // all lanes have written
  const uint32_t n = g.simd_count[group];
  for (uint32_t i = 0; i < n; i++) std::memcpy(static_cast<unsigned char*>(lanes) + i * size, &g.slots[(first + i) * kSlotBytes], size);
  *count = n;
  g.simd[group]->arrive_and_wait();  // all lanes have read: the slots may be reused
}

extern "C" unsigned rusty_simd_lane() { return current_thread % current_simd_width; }

// Run `fn` for every thread of every threadgroup of `grid` (or only the `ngroups` linear threadgroup
// ids in `groups`, when not null). Returns 0.
extern "C" int rusty_dispatch(rusty_thread_fn fn, void* const* buffers, const void* params, const uint32_t grid[3],
                              const uint32_t block[3], uint32_t simd_width, const uint32_t* groups, uint32_t ngroups) {
  const uint32_t threads = block[0] * block[1] * block[2];
  const uint32_t total = grid[0] * grid[1] * grid[2];
  if (groups == nullptr) ngroups = total;
  Group g(threads, simd_width);
  std::vector<std::thread> pool;
  for (uint32_t t = 0; t < threads; t++) {
    pool.emplace_back([&, t] {
      current = &g;
      current_thread = t;
      current_simd_width = simd_width;
      rusty_ctx c{};
      c.lid[0] = t % block[0];
      c.lid[1] = t / block[0] % block[1];
      c.lid[2] = t / (block[0] * block[1]);
      for (int d = 0; d < 3; d++) c.nwg[d] = grid[d];
      c.simd_lane = t % simd_width;
      c.simd_size = simd_width;
      for (uint32_t k = 0; k < ngroups; k++) {
        const uint32_t id = groups == nullptr ? k : groups[k];
        c.wid[0] = id % grid[0];
        c.wid[1] = id / grid[0] % grid[1];
        c.wid[2] = id / (grid[0] * grid[1]);
        for (int d = 0; d < 3; d++) c.gid[d] = c.wid[d] * block[d] + c.lid[d];
        fn(buffers, params, &c);
        g.barrier.arrive_and_wait();  // the threadgroup is done: its threadgroup memory may be reused
      }
    });
  }
  for (auto& th : pool) th.join();
  return 0;
}
