// Consumer check: uses weft through the package under test. Exits nonzero on a wrong result.
#include <weft/weft.hpp>

#include <cstdio>
#include <numeric>
#include <vector>

static_assert(__cplusplus >= 202002L, "weft::weft must bring C++20 to its consumers");

int main() {
  weft::thread_pool pool{2};
  if (pool.size() != 2) {
    std::fprintf(stderr, "pool.size() == %zu, expected 2\n", pool.size());
    return 1;
  }

  std::vector<long long> values(100000);
  std::iota(values.begin(), values.end(), 1LL);
  const long long sum =
      weft::parallel_reduce(pool, values, 0LL, [](long long a, long long b) { return a + b; });
  const long long expected = 100000LL * 100001LL / 2;
  if (sum != expected) {
    std::fprintf(stderr, "parallel_reduce gave %lld, expected %lld\n", sum, expected);
    return 1;
  }

  auto [a, b] = weft::join(
      pool, [] { return 1; }, [] { return 2.0; });
  if (a != 1 || b != 2.0) {
    std::fprintf(stderr, "join gave (%d, %g), expected (1, 2)\n", a, b);
    return 1;
  }

  std::printf("weft consumer OK: sum=%lld join=(%d, %g)\n", sum, a, b);
  return 0;
}
