// chunked_reduce.cpp - template: compute several statistics in one parallel pass.
//
// The idea: weft::parallel_reduce over weft::chunked(first, last, grain) gives each task a chunk of
// indices; the task folds its chunk into a small struct of counters (a "partial"), and the partials
// are combined pairwise by `combine`. The result is bitwise the same for any pool size (the
// combination tree depends only on the number of chunks), even with floating point.
//
// To adapt: put your counters in `stats`, fill them in the chunk function, add them up in
// `combine`. `combine` must be associative, and `stats{}` must be its identity.
#include <weft/weft.hpp>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

struct stats {
  std::uint64_t count = 0;
  std::uint64_t even = 0;
  std::int64_t sum = 0;
  std::int64_t max = std::numeric_limits<std::int64_t>::min();  // identity of max
};

stats combine(stats a, const stats& b) {
  a.count += b.count;
  a.even += b.even;
  a.sum += b.sum;
  a.max = b.max > a.max ? b.max : a.max;
  return a;
}

int main() {
  weft::thread_pool pool;

  std::vector<std::int64_t> data(2'000'000);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::int64_t>((i * 7919) % 100'003) - 50'000;

  // Chunks of 65536 indices: large enough that per-chunk overhead vanishes, small enough to
  // balance.
  const stats s = weft::parallel_reduce(
      pool, weft::chunked(std::size_t{0}, data.size(), 65536), stats{},
      [&](weft::chunk<std::size_t> c) {
        stats part;  // one partial per chunk: no sharing, no locks
        for (std::size_t i : c) {
          const std::int64_t x = data[i];
          ++part.count;
          part.even += x % 2 == 0;
          part.sum += x;
          if (x > part.max) part.max = x;
        }
        return part;
      },
      combine);

  // Self-check against a sequential fold.
  stats expected;
  for (std::int64_t x : data) {
    ++expected.count;
    expected.even += x % 2 == 0;
    expected.sum += x;
    if (x > expected.max) expected.max = x;
  }
  if (s.count != expected.count || s.even != expected.even || s.sum != expected.sum ||
      s.max != expected.max) {
    std::fprintf(stderr, "parallel and sequential results differ\n");
    return 1;
  }
  std::printf("chunked_reduce: count %llu, even %llu, sum %lld, max %lld\n",
              static_cast<unsigned long long>(s.count), static_cast<unsigned long long>(s.even),
              static_cast<long long>(s.sum), static_cast<long long>(s.max));
  return 0;
}
