// fork_join.cpp - template: divide and conquer with weft::join (parallel merge sort).
//
// The idea: weft::join(pool, f, g) runs f and g possibly in parallel and returns when both are
// done. Called recursively, it splits the work into a tree of tasks; a worker waiting for its other
// half runs other tasks meanwhile, so deep recursion never deadlocks nor creates threads.
//
// To adapt: keep the shape - below a cutoff do the work sequentially (task overhead would
// dominate), above it split in two, join, then combine the halves.
#include <weft/weft.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

// Sorts `v`, using `tmp` (same size) as scratch space for merging.
void merge_sort(weft::thread_pool& pool, std::span<std::uint32_t> v, std::span<std::uint32_t> tmp) {
  constexpr std::size_t cutoff = 16384;  // below this, sequential sort is faster than splitting
  if (v.size() <= cutoff) {
    std::sort(v.begin(), v.end());
    return;
  }
  const std::size_t mid = v.size() / 2;
  weft::join(
      pool, [&] { merge_sort(pool, v.first(mid), tmp.first(mid)); },
      [&] { merge_sort(pool, v.subspan(mid), tmp.subspan(mid)); });
  std::merge(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid),
             v.begin() + static_cast<std::ptrdiff_t>(mid), v.end(), tmp.begin());
  std::copy(tmp.begin(), tmp.end(), v.begin());
}

int main() {
  weft::thread_pool pool;

  std::vector<std::uint32_t> v(1'000'000);
  std::uint32_t x = 12345;
  for (auto& e : v) {  // xorshift32: reproducible pseudo-random input
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    e = x;
  }
  std::vector<std::uint32_t> expected = v;
  std::sort(expected.begin(), expected.end());

  std::vector<std::uint32_t> tmp(v.size());
  merge_sort(pool, v, tmp);

  if (v != expected) {
    std::fprintf(stderr, "merge sort result is wrong\n");
    return 1;
  }
  std::printf("fork_join: sorted %zu numbers with %zu workers\n", v.size(), pool.size());
  return 0;
}
