// Nesting: primitives inside primitives, inside join and inside tasks, on the same pool, to any
// depth, without deadlock and without creating threads. Each scenario runs under a deadline, so a
// deadlock fails the test instead of hanging it.
#include <weft/weft.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "primitives_support.hpp"

namespace {

constexpr std::chrono::seconds deadline{30};

// The distinct threads that ran some work.
struct thread_set {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  void note() {
    std::lock_guard lock(mutex);
    ids.insert(std::this_thread::get_id());
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return ids.size();
  }
};

}  // namespace

TEST_CASE("parallel_for inside parallel_for inside join completes on a 2-worker pool",
          "[nesting]") {
  // Shared state lives in shared_ptrs: if the work deadlocks, the thread left behind still owns it.
  auto pool = std::make_shared<weft::thread_pool>(2);
  auto count = std::make_shared<std::atomic<long>>(0);
  auto threads = std::make_shared<thread_set>();
  constexpr int outer = 64;
  constexpr int inner = 64;
  const bool finished = weft_test::finishes_within(deadline, [pool, count, threads] {
    auto nested = [&] {
      weft::parallel_for(*pool, 0, outer, [&](int) {
        weft::parallel_for(*pool, 0, inner, [&](int) {
          threads->note();
          count->fetch_add(1);
        });
      });
      return 1;
    };
    auto [a, b] = weft::join(*pool, nested, nested);
    if (a + b != 2) count->store(-1);
  });
  REQUIRE(finished);
  REQUIRE(count->load() == 2L * outer * inner);
  // No thread was created for the nesting: the workers and the one calling thread did it all.
  REQUIRE(threads->size() <= pool->size() + 1);
}

TEST_CASE("parallel_reduce inside parallel_map gives each element's sequential answer",
          "[nesting]") {
  auto pool = std::make_shared<weft::thread_pool>(3);
  auto result = std::make_shared<std::vector<long long>>();
  const bool finished = weft_test::finishes_within(deadline, [pool, result] {
    std::vector<int> sizes(300);
    std::iota(sizes.begin(), sizes.end(), 0);
    *result = weft::parallel_map(*pool, sizes, [&](int n) {
      std::vector<long long> v(static_cast<std::size_t>(n) * 10);
      std::iota(v.begin(), v.end(), 1LL);
      return weft::parallel_reduce(*pool, v, 0LL, std::plus<>{});
    });
  });
  REQUIRE(finished);
  REQUIRE(result->size() == 300);
  std::size_t wrong = 0;
  for (std::size_t n = 0; n < result->size(); ++n) {
    const long long m = static_cast<long long>(n) * 10;
    if ((*result)[n] != m * (m + 1) / 2) ++wrong;
  }
  REQUIRE(wrong == 0);
}

TEST_CASE("four levels of nested primitives complete and visit everything", "[nesting]") {
  for (std::size_t workers : {std::size_t{1}, std::size_t{2}, std::size_t{4}}) {
    INFO("workers = " << workers);
    auto pool = std::make_shared<weft::thread_pool>(workers);
    auto leaves = std::make_shared<std::atomic<long>>(0);
    auto total = std::make_shared<long long>(0);
    constexpr int width = 12;
    const bool finished = weft_test::finishes_within(deadline, [pool, leaves, total] {
      std::vector<int> level1(width, 1);
      // 1: parallel_reduce; 2: parallel_map; 3: join; 4: parallel_for.
      *total = weft::parallel_reduce(
          *pool, level1, 0LL,
          [&](int) {
            std::vector<int> level2(width, 1);
            const auto mapped = weft::parallel_map(*pool, level2, [&](int) {
              auto [left, right] = weft::join(
                  *pool,
                  [&] {
                    weft::parallel_for(*pool, 0, width, [&](int) { leaves->fetch_add(1); });
                    return 1LL;
                  },
                  [&] {
                    weft::parallel_for(*pool, weft::chunked(0, width, 1),
                                       [&](weft::chunk<int>) { leaves->fetch_add(1); });
                    return 1LL;
                  });
              return left + right;
            });
            return std::accumulate(mapped.begin(), mapped.end(), 0LL);
          },
          std::plus<>{});
    });
    REQUIRE(finished);
    REQUIRE(*total == 2LL * width * width);
    REQUIRE(leaves->load() == 2L * width * width * width);
  }
}

TEST_CASE("nested primitives run inside a submitted task complete", "[nesting]") {
  auto pool = std::make_shared<weft::thread_pool>(2);
  auto count = std::make_shared<std::atomic<long>>(0);
  // The tasks use the pool through a plain pointer: a task must never hold the last reference to
  // its own pool.
  weft::thread_pool* const raw = pool.get();
  std::vector<std::future<long>> futures;
  for (int t = 0; t < 4; ++t) {
    futures.push_back(pool->submit([raw, count] {
      weft::parallel_for(*raw, 0, 50, [&](int) {
        weft::parallel_for(*raw, weft::chunked(0, 50, 3), [&](weft::chunk<int> c) {
          count->fetch_add(static_cast<long>(c.size()));
        });
      });
      std::vector<int> v(1000, 1);
      return static_cast<long>(weft::parallel_reduce(*raw, v, 0, std::plus<>{}));
    }));
  }
  bool all_ready = true;
  for (auto& f : futures)
    all_ready = all_ready && f.wait_for(deadline) == std::future_status::ready;
  if (!all_ready) new std::shared_ptr<weft::thread_pool>(pool);  // deadlocked: never destroy it
  REQUIRE(all_ready);
  for (auto& f : futures) REQUIRE(f.get() == 1000);
  REQUIRE(count->load() == 4L * 50 * 50);
}

TEST_CASE("a nested parallel_reduce gives the same bits as the same reduce at top level",
          "[nesting]") {
  auto pool = std::make_shared<weft::thread_pool>(4);
  std::vector<double> data(20000);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = (i % 3 == 0 ? 1e10 : 1.0) / static_cast<double>(i + 1) * (i % 2 ? -1 : 1);
  const double top = weft::parallel_reduce(*pool, data, 0.0, std::plus<>{});
  auto nested = std::make_shared<std::vector<double>>(16, 0.0);
  const bool finished = weft_test::finishes_within(deadline, [pool, nested, data] {
    weft::parallel_for(*pool, std::size_t{0}, nested->size(), [&](std::size_t i) {
      (*nested)[i] = weft::parallel_reduce(*pool, data, 0.0, std::plus<>{});
    });
  });
  REQUIRE(finished);
  for (double x : *nested)
    REQUIRE(std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(top));
}

TEST_CASE("a primitive on a second pool may be called from inside a task of the first",
          "[nesting]") {
  auto first = std::make_shared<weft::thread_pool>(2);
  auto second = std::make_shared<weft::thread_pool>(2);
  auto count = std::make_shared<std::atomic<long>>(0);
  const bool finished = weft_test::finishes_within(deadline, [first, second, count] {
    weft::parallel_for(*first, 0, 8, [&](int) {
      weft::parallel_for(*second, 0, 100, [&](int) { count->fetch_add(1); });
    });
  });
  REQUIRE(finished);
  REQUIRE(count->load() == 800);
}
