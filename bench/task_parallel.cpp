// bench/task_parallel.cpp
//
// Scheduling costs: unbalanced loops, fork-join recursion (fib), a million tiny tasks from
// outside the pool, the latency of a small parallel loop, and the CPU an idle pool burns.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <future>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"
#include <pthread.h>

#if defined(WEFT_BENCH_HAVE_TBB)
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_invoke.h>
#include <oneapi/tbb/task_group.h>
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
#include <omp.h>
#endif

namespace bench {
namespace {

using std::size_t;

// -------------------------------------------------------------------------------------------
// unbalanced: index i costs work proportional to i, 20,000 indices
// -------------------------------------------------------------------------------------------
size_t unbalanced_count() {
  return smoke() ? 200 : 20'000;
}

// A dependent chain of i/4 multiply-adds: about two nanoseconds per unit of i. The empty asm
// keeps the compiler from folding the chain.
[[gnu::noinline]] double unbalanced_kernel(size_t i) {
  double x = static_cast<double>(i);
  for (size_t k = 0; k < i / 4; ++k) {
    x = x * 0.999 + 1.0;
#if defined(__GNUC__)
    asm("" : "+x"(x));
#endif
  }
  return x;
}
void unbalanced_seq_into(std::vector<double>& out) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = unbalanced_kernel(i);
}
const std::vector<double>& unbalanced_expected() {
  static const std::vector<double> data = [] {
    std::vector<double> out(unbalanced_count());
    unbalanced_seq_into(out);
    return out;
  }();
  return data;
}
template <class Loop>
void run_unbalanced(benchmark::State& state, Loop loop) {
  std::vector<double> out(unbalanced_count(), 0.0);
  loop(out);
  check_equal(state, out, unbalanced_expected(), "output vector");
  settle();
  for (auto _ : state) {
    loop(out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
void unbalanced_seq(benchmark::State& state) {
  run_unbalanced(state, unbalanced_seq_into);
}
void unbalanced_weft(benchmark::State& state) {
  run_unbalanced(state, [](std::vector<double>& out) {
    weft::parallel_for(pool(), size_t{0}, out.size(),
                       [&](size_t i) { out[i] = unbalanced_kernel(i); });
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
void unbalanced_tbb(benchmark::State& state) {
  run_unbalanced(state, [](std::vector<double>& out) {
    in_arena([&] {
      tbb::parallel_for(size_t{0}, out.size(), [&](size_t i) { out[i] = unbalanced_kernel(i); });
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void unbalanced_omp_static(benchmark::State& state) {
  run_unbalanced(state, [](std::vector<double>& out) {
    const long n = static_cast<long>(out.size());
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i)
      out[static_cast<size_t>(i)] = unbalanced_kernel(static_cast<size_t>(i));
  });
}
void unbalanced_omp_dynamic(benchmark::State& state) {
  run_unbalanced(state, [](std::vector<double>& out) {
    const long n = static_cast<long>(out.size());
#pragma omp parallel for schedule(dynamic)
    for (long i = 0; i < n; ++i)
      out[static_cast<size_t>(i)] = unbalanced_kernel(static_cast<size_t>(i));
  });
}
#endif

// -------------------------------------------------------------------------------------------
// fib(30): every call a fork (no cutoff), and with a serial cutoff below n = 20
// -------------------------------------------------------------------------------------------
int fib_n() {
  return smoke() ? 20 : 30;
}
int fib_cutoff() {
  return smoke() ? 10 : 20;
}

[[gnu::noinline]] std::int64_t fib_seq(int n) {
  return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}
std::int64_t fib_expected() {
  static const std::int64_t value = fib_seq(fib_n());
  return value;
}

std::int64_t fib_weft(int n, int cutoff) {
  if (n < 2) return n;
  if (n < cutoff) return fib_seq(n);
  auto [a, b] = weft::join(
      pool(), [&] { return fib_weft(n - 1, cutoff); }, [&] { return fib_weft(n - 2, cutoff); });
  return a + b;
}
#if defined(WEFT_BENCH_HAVE_TBB)
std::int64_t fib_tbb(int n, int cutoff) {
  if (n < 2) return n;
  if (n < cutoff) return fib_seq(n);
  std::int64_t a = 0, b = 0;
  tbb::parallel_invoke([&] { a = fib_tbb(n - 1, cutoff); }, [&] { b = fib_tbb(n - 2, cutoff); });
  return a + b;
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
std::int64_t fib_omp_task(int n, int cutoff) {
  if (n < 2) return n;
  if (n < cutoff) return fib_seq(n);
  std::int64_t a = 0;
#pragma omp task shared(a) firstprivate(n, cutoff)
  a = fib_omp_task(n - 1, cutoff);
  const std::int64_t b = fib_omp_task(n - 2, cutoff);
#pragma omp taskwait
  return a + b;
}
std::int64_t fib_omp(int n, int cutoff) {
  std::int64_t result = 0;
#pragma omp parallel
#pragma omp single
  result = fib_omp_task(n, cutoff);
  return result;
}
#endif

template <class Fib>
void run_fib(benchmark::State& state, Fib fib, bool with_cutoff) {
  const int cutoff = with_cutoff ? fib_cutoff() : 0;
  check_equal(state, fib(fib_n(), cutoff), fib_expected(), "fib(n)");
  settle();
  for (auto _ : state) benchmark::DoNotOptimize(fib(fib_n(), cutoff));
}
void fib_seq_bench(benchmark::State& state) {
  run_fib(
      state, [](int n, int) { return fib_seq(n); }, false);
}
void fib_weft_bench(benchmark::State& state) {
  run_fib(state, fib_weft, false);
}
void fib_cutoff_seq_bench(benchmark::State& state) {
  run_fib(
      state, [](int n, int) { return fib_seq(n); }, true);
}
void fib_cutoff_weft_bench(benchmark::State& state) {
  run_fib(state, fib_weft, true);
}
#if defined(WEFT_BENCH_HAVE_TBB)
void fib_tbb_bench(benchmark::State& state) {
  run_fib(
      state, [](int n, int c) { return in_arena([&] { return fib_tbb(n, c); }); }, false);
}
void fib_cutoff_tbb_bench(benchmark::State& state) {
  run_fib(
      state, [](int n, int c) { return in_arena([&] { return fib_tbb(n, c); }); }, true);
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void fib_omp_bench(benchmark::State& state) {
  run_fib(state, fib_omp, false);
}
void fib_cutoff_omp_bench(benchmark::State& state) {
  run_fib(state, fib_omp, true);
}
#endif

// -------------------------------------------------------------------------------------------
// tasks: 1,000,000 tiny tasks submitted from the main thread (outside the pool), then awaited
// -------------------------------------------------------------------------------------------
size_t task_count() {
  return scaled(1'000'000);
}

template <class Spawn>
void run_tasks(benchmark::State& state, Spawn spawn) {
  std::vector<std::uint32_t> out(task_count(), 0);
  spawn(out);
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] != 2 * i + 1) fail(state, "a task did not run");
  settle();
  for (auto _ : state) {
    spawn(out);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
void tasks_seq(benchmark::State& state) {
  run_tasks(state, [](std::vector<std::uint32_t>& out) {
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<std::uint32_t>(2 * i + 1);
      benchmark::ClobberMemory();  // one store per "task", as in the parallel versions
    }
  });
}
void tasks_weft(benchmark::State& state) {
  run_tasks(state, [](std::vector<std::uint32_t>& out) {
    weft::task_group group(pool());
    std::uint32_t* data = out.data();
    for (size_t i = 0; i < out.size(); ++i)
      group.run([data, i] { data[i] = static_cast<std::uint32_t>(2 * i + 1); });
    group.wait();
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
void tasks_tbb(benchmark::State& state) {
  run_tasks(state, [](std::vector<std::uint32_t>& out) {
    in_arena([&] {
      tbb::task_group group;
      std::uint32_t* data = out.data();
      for (size_t i = 0; i < out.size(); ++i)
        group.run([data, i] { data[i] = static_cast<std::uint32_t>(2 * i + 1); });
      group.wait();
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void tasks_omp(benchmark::State& state) {
  run_tasks(state, [](std::vector<std::uint32_t>& out) {
    std::uint32_t* data = out.data();
    const size_t n = out.size();
#pragma omp parallel
#pragma omp single
    for (size_t i = 0; i < n; ++i) {
#pragma omp task firstprivate(i)
      data[i] = static_cast<std::uint32_t>(2 * i + 1);
    }
  });
}
#endif

// -------------------------------------------------------------------------------------------
// small_loop: parallel_for over 1,000 elements with a trivial body, 10,000 calls per iteration
// -------------------------------------------------------------------------------------------
constexpr size_t small_loop_size = 1000;
size_t small_loop_calls() {
  return scaled(10'000, 4);
}

template <class Loop>
void run_small_loop(benchmark::State& state, Loop loop) {
  std::vector<int> data(small_loop_size, 0);
  const size_t calls = small_loop_calls();
  for (size_t c = 0; c < calls; ++c) loop(data);
  for (int x : data)
    if (x != static_cast<int>(calls)) fail(state, "an element was not visited once per call");
  settle();
  for (auto _ : state) {
    for (size_t c = 0; c < calls; ++c) loop(data);
    benchmark::ClobberMemory();
  }
  state.counters["per_call"] =
      benchmark::Counter(static_cast<double>(state.iterations() * calls),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
void small_loop_seq(benchmark::State& state) {
  run_small_loop(state, [](std::vector<int>& data) {
    for (size_t i = 0; i < data.size(); ++i) data[i] = data[i] + 1;
    benchmark::ClobberMemory();
  });
}
void small_loop_weft(benchmark::State& state) {
  run_small_loop(state, [](std::vector<int>& data) {
    weft::parallel_for(pool(), size_t{0}, data.size(), [&](size_t i) { data[i] = data[i] + 1; });
  });
}
#if defined(WEFT_BENCH_HAVE_TBB)
void small_loop_tbb(benchmark::State& state) {
  run_small_loop(state, [](std::vector<int>& data) {
    in_arena([&] {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, data.size()),
                        [&](const tbb::blocked_range<size_t>& r) {
                          for (size_t i = r.begin(); i != r.end(); ++i) data[i] = data[i] + 1;
                        });
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void small_loop_omp(benchmark::State& state) {
  run_small_loop(state, [](std::vector<int>& data) {
    const long n = static_cast<long>(data.size());
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) data[static_cast<size_t>(i)] = data[static_cast<size_t>(i)] + 1;
  });
}
#endif

// -------------------------------------------------------------------------------------------
// idle: the CPU a pool's threads burn while it sits idle for a second after some work
// -------------------------------------------------------------------------------------------
double seconds_of(const timespec& t) {
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return seconds_of(t);
}

// The CPU clocks of the threads that ran a library's work in this round of the idle benchmark,
// the benchmark's own (main) thread left out: what a pool burns is what its threads burn. The
// whole process's CPU would also count the other runtimes' threads (oneTBB's and OpenMP's stay
// alive after their benchmarks) and anything else that wakes in the process, and once put a
// floor of 2.6 ms/s under every library, the one with no threads included.
class library_threads {
 public:
  static library_threads& instance() {
    static library_threads value;
    return value;
  }
  void start_round() {
    std::lock_guard lock(mutex_);
    clocks_.clear();
    main_ = pthread_self();
    round_.fetch_add(1, std::memory_order_relaxed);
  }
  // Called by the work on every element: cheap after the first call on each thread per round.
  void note_this_thread() {
    thread_local int noted_round = -1;
    const int round = round_.load(std::memory_order_relaxed);
    if (noted_round == round) return;
    noted_round = round;
    std::lock_guard lock(mutex_);
    if (pthread_equal(pthread_self(), main_)) return;
    clockid_t clock{};
    if (pthread_getcpuclockid(pthread_self(), &clock) == 0) clocks_.push_back(clock);
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return clocks_.size();
  }
  double cpu_seconds() {
    std::lock_guard lock(mutex_);
    double total = 0.0;
    for (clockid_t clock : clocks_) {
      timespec t{};
      if (clock_gettime(clock, &t) == 0) total += seconds_of(t);
    }
    return total;
  }

 private:
  std::mutex mutex_;
  std::vector<clockid_t> clocks_;
  pthread_t main_{};
  std::atomic<int> round_{0};
};

void note_thread() {
  library_threads::instance().note_this_thread();
}

// Some work first (a few loops over 2^20 elements), then a second of sleep on the main thread;
// what the threads that ran the work spent meanwhile is the pool's idle cost (counter
// cpu_ms_per_s; process_cpu_ms_per_s is the whole process, for reference). The second starts 10 ms
// after the work, so that a thread's last chunk has surely ended. (weft's workers spin about
// 50-100 us before they park, well inside those 10 ms.) `after_work` runs between the two: weft
// uses it to count every worker, including one that happened to run no chunk.
template <class Work, class AfterWork>
void run_idle(benchmark::State& state, Work work, AfterWork after_work) {
  std::vector<double> data(scaled(size_t{1} << 20), 1.0);
  const auto idle = std::chrono::milliseconds(smoke() ? 20 : 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(smoke() ? 1 : 300));  // others go quiet
  auto& threads = library_threads::instance();
  double cpu_ms_per_s = 0.0, process_cpu_ms_per_s = 0.0, counted = 0.0;
  for (auto _ : state) {
    threads.start_round();
    for (int round = 0; round < 8; ++round) work(data);
    after_work();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const double cpu_before = threads.cpu_seconds();
    const double process_before = process_cpu_seconds();
    const auto wall_before = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(idle);
    const double cpu = threads.cpu_seconds() - cpu_before;
    const double process = process_cpu_seconds() - process_before;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    cpu_ms_per_s += 1000.0 * cpu / wall;
    process_cpu_ms_per_s += 1000.0 * process / wall;
    counted += static_cast<double>(threads.count());
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["cpu_ms_per_s"] = cpu_ms_per_s / iterations;
  state.counters["process_cpu_ms_per_s"] = process_cpu_ms_per_s / iterations;
  state.counters["threads"] = counted / iterations;
}
template <class Work>
void run_idle(benchmark::State& state, Work work) {
  run_idle(state, work, [] {});
}
void idle_seq(benchmark::State& state) {
  run_idle(state, [](std::vector<double>& data) {
    for (double& x : data) x = std::sqrt(x + 1.0);
  });
}
// Every worker notes itself: one task per worker, each held until all have started, so no
// worker can run two of them.
void note_every_weft_worker() {
  const std::size_t workers = pool().size();
  std::latch all_started(static_cast<std::ptrdiff_t>(workers));
  std::vector<std::future<void>> tasks;
  for (std::size_t i = 0; i < workers; ++i)
    tasks.push_back(pool().submit([&all_started] {
      note_thread();
      all_started.arrive_and_wait();
    }));
  for (auto& task : tasks) task.get();
}
void idle_weft(benchmark::State& state) {
  run_idle(
      state,
      [](std::vector<double>& data) {
        weft::parallel_for(pool(), data, [](double& x) {
          note_thread();
          x = std::sqrt(x + 1.0);
        });
      },
      note_every_weft_worker);
}
#if defined(WEFT_BENCH_HAVE_TBB)
void idle_tbb(benchmark::State& state) {
  run_idle(state, [](std::vector<double>& data) {
    in_arena([&] {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, data.size()),
                        [&](const tbb::blocked_range<size_t>& r) {
                          note_thread();
                          for (size_t i = r.begin(); i != r.end(); ++i)
                            data[i] = std::sqrt(data[i] + 1.0);
                        });
    });
  });
}
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
void idle_omp(benchmark::State& state) {
  run_idle(state, [](std::vector<double>& data) {
    const long n = static_cast<long>(data.size());
#pragma omp parallel
    {
      note_thread();
#pragma omp for schedule(static)
      for (long i = 0; i < n; ++i)
        data[static_cast<size_t>(i)] = std::sqrt(data[static_cast<size_t>(i)] + 1.0);
    }
  });
}
#endif

void add_idle(const char* name, void (*function)(benchmark::State&)) {
  add(name, function)->Iterations(1);
}

}  // namespace

void register_task_parallel() {
  add("unbalanced/seq", unbalanced_seq);
  add("unbalanced/weft", unbalanced_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("unbalanced/tbb", unbalanced_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("unbalanced/omp_static", unbalanced_omp_static);
  add("unbalanced/omp_dynamic", unbalanced_omp_dynamic);
#endif
  add("fib/seq", fib_seq_bench);
  add("fib/weft", fib_weft_bench);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("fib/tbb", fib_tbb_bench);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("fib/omp", fib_omp_bench);
#endif
  add("fib_cutoff/seq", fib_cutoff_seq_bench);
  add("fib_cutoff/weft", fib_cutoff_weft_bench);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("fib_cutoff/tbb", fib_cutoff_tbb_bench);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("fib_cutoff/omp", fib_cutoff_omp_bench);
#endif
  add("tasks/seq", tasks_seq);
  add("tasks/weft", tasks_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("tasks/tbb", tasks_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("tasks/omp", tasks_omp);
#endif
  add("small_loop/seq", small_loop_seq);
  add("small_loop/weft", small_loop_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add("small_loop/tbb", small_loop_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add("small_loop/omp", small_loop_omp);
#endif
  add_idle("idle/seq", idle_seq);
  add_idle("idle/weft", idle_weft);
#if defined(WEFT_BENCH_HAVE_TBB)
  add_idle("idle/tbb", idle_tbb);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  add_idle("idle/omp", idle_omp);
#endif
}

}  // namespace bench
