// Helpers shared by the tests of the parallel primitives: sanitizer-aware sizes, a guard for the
// standard range adaptors, and a deadline so that a deadlock fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <thread>
#include <utility>
#include <version>

// Sanitized builds run the same tests on smaller inputs.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define WEFT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define WEFT_TEST_SANITIZED 1
#endif
#endif
#ifndef WEFT_TEST_SANITIZED
#define WEFT_TEST_SANITIZED 0
#endif

// clang before 16 cannot compile libstdc++'s std::views. The build defines WEFT_HAVE_STD_VIEWS
// from a configure check; without it, fall back to the known-bad combination.
#if defined(WEFT_HAVE_STD_VIEWS)
#define WEFT_TEST_VIEWS WEFT_HAVE_STD_VIEWS
#elif defined(__clang__) && __clang_major__ < 16 && defined(__GLIBCXX__)
#define WEFT_TEST_VIEWS 0
#else
#define WEFT_TEST_VIEWS 1
#endif

namespace weft_test {

// The largest input size the tests use: 2^20, or 2^14 under a sanitizer.
inline constexpr std::size_t big =
    WEFT_TEST_SANITIZED ? std::size_t{1} << 14 : std::size_t{1} << 20;

// The sizes every primitive is checked at.
inline constexpr std::size_t sizes[] = {0, 1, 2, 7, 1000, big};

// Runs `work` on a thread of its own and waits at most `limit` for it. Returns true if it
// finished (rethrowing its exception, if any). On a timeout the thread is left behind, detached,
// with everything it captured by value: the test fails instead of hanging.
template <class Work>
bool finishes_within(std::chrono::seconds limit, Work work) {
  auto state = std::make_shared<std::packaged_task<void()>>(std::move(work));
  std::future<void> done = state->get_future();
  std::thread runner([state] { (*state)(); });
  if (done.wait_for(limit) != std::future_status::ready) {
    runner.detach();
    return false;
  }
  runner.join();
  done.get();
  return true;
}

}  // namespace weft_test
