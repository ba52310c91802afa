// parallel_loop.cpp - template: apply a function to every element of a vector in parallel.
//
// The idea: weft::parallel_for(pool, range, body) calls body(element) once per element, spread over
// the pool's workers. Use it when each element is independent of the others.
//
// To adapt: replace `values` with your data and the body with your per-element work. The body runs
// concurrently on different elements, so it must only write to its own element (or to data that is
// safe to share).
#include <weft/weft.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  weft::thread_pool pool;  // one worker per CPU this process may use (or WEFT_NUM_THREADS)

  std::vector<double> values(1'000'000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);

  // Each element is replaced by its square root; no two calls touch the same element.
  weft::parallel_for(pool, values, [](double& x) { x = std::sqrt(x); });

  // Self-check against the sequential result.
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] != std::sqrt(static_cast<double>(i))) {
      std::fprintf(stderr, "wrong value at %zu\n", i);
      return 1;
    }
  }
  std::printf("parallel_loop: %zu square roots with %zu workers\n", values.size(), pool.size());
  return 0;
}
