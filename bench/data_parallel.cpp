// bench/data_parallel.cpp
//
// Loops over large arrays: reduce (sum of doubles), map (heavy math per element), nested
// (parallel_reduce inside parallel_for) and a chunked histogram. Every input holds values whose
// sums are exact in double arithmetic (small integers), so every library, in any order of
// additions, must give exactly the sequential result.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <vector>

#include "common.hpp"

#if defined(WEFT_BENCH_HAVE_TBB)
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
#include <omp.h>
#endif

namespace bench {
namespace {

using std::size_t;

// -------------------------------------------------------------------------------------------
// reduce: the sum of 2^26 doubles
// -------------------------------------------------------------------------------------------
const std::vector<double>& reduce_input() {
  static const std::vector<double> data = [] {
    std::vector<double> v(scaled(size_t{1} << 26));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7919) % 17);
    return v;
  }();
  return data;
}
double reduce_seq_sum(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}
double reduce_expected() {
  static const double value = reduce_seq_sum(reduce_input());
  return value;
}

template <class Sum>
void run_reduce(benchmark::State& state, Sum sum) {
  const auto& v = reduce_input();
  check_equal(state, sum(v), reduce_expected(), "sum");
  settle();
  for (auto _ : state) benchmark::DoNotOptimize(sum(v));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * v.size() * sizeof(double)));
}

void reduce_seq(benchmark::State& state) {
  run_reduce(state, reduce_seq_sum);
}
void reduce_weft(benchmark::State& state) {
  run_reduce(state, [](const std::vector<double>& v) {
    return weft::parallel_reduce(pool(), v, 0.0, std::plus<>{});
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
void reduce_tbb(benchmark::State& state) {
  run_reduce(state, [](const std::vector<double>& v) {
    return in_arena([&] {
      return tbb::parallel_reduce(
          tbb::blocked_range<size_t>(0, v.size()), 0.0,
          [&](const tbb::blocked_range<size_t>& r, double acc) {
            for (size_t i = r.begin(); i != r.end(); ++i) acc += v[i];
            return acc;
          },
          std::plus<>{});
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void reduce_omp(benchmark::State& state) {
  run_reduce(state, [](const std::vector<double>& v) {
    double sum = 0.0;
    const long n = static_cast<long>(v.size());
#pragma omp parallel for reduction(+ : sum)
    for (long i = 0; i < n; ++i) sum += v[static_cast<size_t>(i)];
    return sum;
  });
}
#endif

// -------------------------------------------------------------------------------------------
// map: about 100 ns of math per element, 2^21 elements, into an output vector
// -------------------------------------------------------------------------------------------
// Out of line, so that every library calls the very same code and gets the very same bits.
[[gnu::noinline]] double map_kernel(double x) {
  double acc = x;
  for (int k = 0; k < 5; ++k)
    acc = std::sin(acc) + std::cos(acc * 0.5) + std::sqrt(std::abs(acc) + 1.0);
  return acc;
}
const std::vector<double>& map_input() {
  static const std::vector<double> data = [] {
    std::vector<double> v(scaled(size_t{1} << 21));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 1e-3;
    return v;
  }();
  return data;
}
void map_seq_into(const std::vector<double>& in, std::vector<double>& out) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = map_kernel(in[i]);
}
const std::vector<double>& map_expected() {
  static const std::vector<double> data = [] {
    std::vector<double> out(map_input().size());
    map_seq_into(map_input(), out);
    return out;
  }();
  return data;
}

template <class Map>
void run_map(benchmark::State& state, Map map) {
  const auto& in = map_input();
  std::vector<double> out(in.size(), 0.0);
  map(in, out);
  check_equal(state, out, map_expected(), "output vector");
  settle();
  for (auto _ : state) {
    map(in, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

void map_seq(benchmark::State& state) {
  run_map(state, map_seq_into);
}
void map_weft(benchmark::State& state) {
  run_map(state, [](const std::vector<double>& in, std::vector<double>& out) {
    weft::parallel_for(pool(), size_t{0}, in.size(), [&](size_t i) { out[i] = map_kernel(in[i]); });
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
void map_tbb(benchmark::State& state) {
  run_map(state, [](const std::vector<double>& in, std::vector<double>& out) {
    in_arena([&] {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, in.size()),
                        [&](const tbb::blocked_range<size_t>& r) {
                          for (size_t i = r.begin(); i != r.end(); ++i) out[i] = map_kernel(in[i]);
                        });
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void map_omp(benchmark::State& state) {
  run_map(state, [](const std::vector<double>& in, std::vector<double>& out) {
    const long n = static_cast<long>(in.size());
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i)
      out[static_cast<size_t>(i)] = map_kernel(in[static_cast<size_t>(i)]);
  });
}
#endif

// -------------------------------------------------------------------------------------------
// nested: 64 outer indices, each a parallel_reduce over its own 100,000 doubles
// -------------------------------------------------------------------------------------------
constexpr size_t nested_outer = 64;
size_t nested_inner() {
  return scaled(100'000);
}
const std::vector<double>& nested_input() {
  static const std::vector<double> data = [] {
    std::vector<double> v(nested_outer * nested_inner());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 31) % 23);
    return v;
  }();
  return data;
}
std::span<const double> nested_slice(size_t outer) {
  return std::span<const double>(nested_input()).subspan(outer * nested_inner(), nested_inner());
}
void nested_seq_into(std::vector<double>& out) {
  for (size_t o = 0; o < nested_outer; ++o) {
    auto s = nested_slice(o);
    out[o] = std::accumulate(s.begin(), s.end(), 0.0);
  }
}
const std::vector<double>& nested_expected() {
  static const std::vector<double> data = [] {
    std::vector<double> out(nested_outer);
    nested_seq_into(out);
    return out;
  }();
  return data;
}

template <class Nested>
void run_nested(benchmark::State& state, Nested nested) {
  nested_input();
  std::vector<double> out(nested_outer, 0.0);
  nested(out);
  check_equal(state, out, nested_expected(), "per-outer sums");
  settle();
  for (auto _ : state) {
    nested(out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void nested_seq(benchmark::State& state) {
  run_nested(state, nested_seq_into);
}
void nested_weft(benchmark::State& state) {
  run_nested(state, [](std::vector<double>& out) {
    weft::parallel_for(pool(), size_t{0}, nested_outer, [&](size_t o) {
      out[o] = weft::parallel_reduce(pool(), nested_slice(o), 0.0, std::plus<>{});
    });
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
void nested_tbb(benchmark::State& state) {
  run_nested(state, [](std::vector<double>& out) {
    in_arena([&] {
      tbb::parallel_for(size_t{0}, nested_outer, [&](size_t o) {
        auto s = nested_slice(o);
        out[o] = tbb::parallel_reduce(
            tbb::blocked_range<size_t>(0, s.size()), 0.0,
            [&](const tbb::blocked_range<size_t>& r, double acc) {
              for (size_t i = r.begin(); i != r.end(); ++i) acc += s[i];
              return acc;
            },
            std::plus<>{});
      });
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
// OpenMP's default: nested parallelism is inactive, so the inner region runs on one thread.
void nested_omp(benchmark::State& state) {
  run_nested(state, [](std::vector<double>& out) {
#pragma omp parallel for schedule(dynamic)
    for (long o = 0; o < static_cast<long>(nested_outer); ++o) {
      auto s = nested_slice(static_cast<size_t>(o));
      double sum = 0.0;
      const long n = static_cast<long>(s.size());
#pragma omp parallel for reduction(+ : sum)
      for (long i = 0; i < n; ++i) sum += s[static_cast<size_t>(i)];
      out[static_cast<size_t>(o)] = sum;
    }
  });
}
#endif

// -------------------------------------------------------------------------------------------
// histogram: 1,024 bins over 2^25 keys, per-chunk partial histograms merged
// -------------------------------------------------------------------------------------------
constexpr size_t bins = 1024;
using histogram = std::vector<std::uint64_t>;
size_t histogram_grain() {
  return scaled(size_t{1} << 18, 64);
}

const std::vector<std::uint32_t>& histogram_keys() {
  static const std::vector<std::uint32_t> data = [] {
    std::vector<std::uint32_t> v(scaled(size_t{1} << 25));
    std::uint64_t state = 0x243F6A8885A308D3ULL;
    for (auto& key : v) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      key = static_cast<std::uint32_t>(state >> 33) % bins;
    }
    return v;
  }();
  return data;
}
histogram histogram_seq_of(const std::vector<std::uint32_t>& keys) {
  histogram h(bins, 0);
  for (std::uint32_t key : keys) ++h[key];
  return h;
}
const histogram& histogram_expected() {
  static const histogram value = histogram_seq_of(histogram_keys());
  return value;
}

template <class Histogram>
void run_histogram(benchmark::State& state, Histogram make) {
  const auto& keys = histogram_keys();
  check_equal(state, make(keys), histogram_expected(), "histogram");
  settle();
  for (auto _ : state) benchmark::DoNotOptimize(make(keys));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * keys.size()));
}

void histogram_seq(benchmark::State& state) {
  run_histogram(state, histogram_seq_of);
}
void histogram_weft(benchmark::State& state) {
  run_histogram(state, [](const std::vector<std::uint32_t>& keys) {
    return weft::parallel_reduce(
        pool(), weft::chunked(size_t{0}, keys.size(), histogram_grain()), histogram(bins, 0),
        [&](weft::chunk<size_t> c) {
          histogram h(bins, 0);
          for (size_t i = c.first(); i != c.last(); ++i) ++h[keys[i]];
          return h;
        },
        [](histogram a, histogram b) {
          for (size_t k = 0; k < bins; ++k) a[k] += b[k];
          return a;
        });
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
struct histogram_body {
  const std::uint32_t* keys;
  histogram h;
  explicit histogram_body(const std::uint32_t* k) : keys(k), h(bins, 0) {}
  histogram_body(histogram_body& other, tbb::split) : keys(other.keys), h(bins, 0) {}
  void operator()(const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) ++h[keys[i]];
  }
  void join(const histogram_body& other) {
    for (size_t k = 0; k < bins; ++k) h[k] += other.h[k];
  }
};
void histogram_tbb(benchmark::State& state) {
  run_histogram(state, [](const std::vector<std::uint32_t>& keys) {
    histogram_body body(keys.data());
    in_arena([&] {
      tbb::parallel_reduce(tbb::blocked_range<size_t>(0, keys.size(), histogram_grain()), body);
    });
    return std::move(body.h);
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void histogram_omp(benchmark::State& state) {
  run_histogram(state, [](const std::vector<std::uint32_t>& keys) {
    histogram total(bins, 0);
    const long n = static_cast<long>(keys.size());
#pragma omp parallel
    {
      histogram local(bins, 0);
#pragma omp for schedule(static) nowait
      for (long i = 0; i < n; ++i) ++local[keys[static_cast<size_t>(i)]];
#pragma omp critical
      for (size_t k = 0; k < bins; ++k) total[k] += local[k];
    }
    return total;
  });
}
#endif

}  // namespace

void register_data_parallel() {
  add("reduce/seq", reduce_seq);
  add("reduce/weft", reduce_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("reduce/tbb", reduce_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("reduce/omp", reduce_omp);
#endif
  add("map/seq", map_seq);
  add("map/weft", map_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("map/tbb", map_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("map/omp", map_omp);
#endif
  add("nested/seq", nested_seq);
  add("nested/weft", nested_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("nested/tbb", nested_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("nested/omp", nested_omp);
#endif
  add("histogram/seq", histogram_seq);
  add("histogram/weft", histogram_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("histogram/tbb", histogram_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("histogram/omp", histogram_omp);
#endif
}

}  // namespace bench
