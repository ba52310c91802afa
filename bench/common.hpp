// bench/common.hpp
//
// What every benchmark file shares: the one weft pool and the one oneTBB arena, the workload
// sizes (shrunk under WEFT_BENCH_SMOKE=1), and the result check that runs before any timing.
#pragma once

#include <weft/weft.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#endif

namespace bench {

// WEFT_BENCH_SMOKE=1: every workload shrinks (sizes / 1024, fib(20), ...), so that a test run
// only checks that every benchmark runs and agrees with the sequential result.
inline bool smoke() {
  static const bool value = [] {
    const char* text = std::getenv("WEFT_BENCH_SMOKE");
    return text != nullptr && *text != '\0' && std::string(text) != "0";
  }();
  return value;
}

// `full` normally, `full / 1024` (at least `minimum`) in smoke mode.
inline std::size_t scaled(std::size_t full, std::size_t minimum = 16) {
  if (!smoke()) return full;
  const std::size_t small = full / 1024;
  return small < minimum ? minimum : small;
}

// The number of CPUs this process may run on (what weft::thread_pool uses by default).
inline std::size_t cpus() {
  return weft::default_thread_count();
}

// One pool for every weft benchmark. Its size follows weft's default (the affinity mask, or
// WEFT_NUM_THREADS).
inline weft::thread_pool& pool() {
  static weft::thread_pool instance;
  return instance;
}

#if defined(WEFT_BENCH_HAVE_TBB)
// One arena for every oneTBB benchmark, as many slots as CPUs (the calling thread takes one).
inline tbb::task_arena& arena() {
  static tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                                   static_cast<std::size_t>(cpus()));
  static tbb::task_arena instance(static_cast<int>(cpus()));
  return instance;
}
template <class F>
decltype(auto) in_arena(F&& f) {
  return arena().execute(std::forward<F>(f));
}
#endif

// The name of the benchmark running now (benchmark::State has no name() before 1.8).
inline std::string& current_benchmark() {
  static std::string name;
  return name;
}

// Registers `function` as benchmark `name`, timed in wall-clock milliseconds.
inline benchmark::internal::Benchmark* add(const char* name, void (*function)(benchmark::State&)) {
  return benchmark::RegisterBenchmark(name,
                                      [name, function](benchmark::State& state) {
                                        current_benchmark() = name;
                                        function(state);
                                      })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// Aborts the whole run: a benchmark whose result is wrong must not produce a time.
[[noreturn]] inline void fail(const benchmark::State&, const std::string& what) {
  std::fprintf(stderr, "weft_bench: %s: result differs from the sequential one: %s\n",
               current_benchmark().c_str(), what.c_str());
  std::fflush(stderr);
  std::abort();
}

template <class T>
void check_equal(const benchmark::State& state, const T& got, const T& expected,
                 const char* what = "value") {
  if (!(got == expected)) fail(state, what);
}

// Lets the previous benchmark's runtime go quiet (its threads spin for a while after their
// last task) before this one starts timing: on a machine with few cores, another runtime's
// spinning threads would otherwise steal the time being measured.
inline void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds(smoke() ? 1 : 50));
}

}  // namespace bench
