// bench/main.cpp
//
// weft_bench: every workload in weft, oneTBB, OpenMP and sequential C++, named
// "<workload>/<library>" so that bench/compare can pair them. Before timing, each benchmark checks
// that its result equals the sequential one and aborts if not. WEFT_BENCH_SMOKE=1 shrinks every
// workload for a quick run that only checks that everything runs and agrees.
#include <string>

#include "common.hpp"

#if defined(WEFT_BENCH_HAVE_TBB)
#include <oneapi/tbb/version.h>
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
#include <omp.h>
#endif

namespace bench {
void register_data_parallel();
void register_task_parallel();
}  // namespace bench

int main(int argc, char** argv) {
  bench::register_data_parallel();
  bench::register_task_parallel();

  benchmark::AddCustomContext("weft_threads", std::to_string(bench::pool().size()));
#if defined(WEFT_BENCH_HAVE_TBB)
  benchmark::AddCustomContext("tbb_threads", std::to_string(bench::arena().max_concurrency()));
  benchmark::AddCustomContext("tbb_version", TBB_VERSION_STRING);
#endif
#if defined(WEFT_BENCH_HAVE_OPENMP)
  benchmark::AddCustomContext("omp_threads", std::to_string(omp_get_max_threads()));
#endif
  benchmark::AddCustomContext("smoke", bench::smoke() ? "1" : "0");

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
