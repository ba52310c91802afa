// Helpers that turn a deadlock into a test failure instead of a hang.
//
// A test that waits for the pool with a plain get() or wait() would hang forever if the pool
// deadlocked, and a failing REQUIRE would not help either: unwinding destroys the pool, whose
// destructor waits for the stuck task. So a wait that runs out of time reports which test and
// what it was waiting for, then aborts the process (one failed test under CTest, which runs each
// test case on its own).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>

namespace weft_test {

using namespace std::chrono_literals;

// How long a wait that should take milliseconds may take before it counts as a deadlock.
// Generous, for sanitizer builds on loaded machines.
inline constexpr std::chrono::seconds deadlock_limit{60};

[[noreturn]] inline void deadlocked(const char* what) {
  std::string test = "(unknown test)";
  try {
    test = Catch::getResultCapture().getCurrentTestName();
  } catch (...) {
  }
  std::fprintf(stderr, "\nDEADLOCK? %s: %s did not finish within %lld s\n", test.c_str(), what,
               static_cast<long long>(deadlock_limit.count()));
  std::fflush(stderr);
  std::abort();
}

// Waits for a future; aborts (fails) if it is not ready in time.
template <class Future>
void await(Future& future, const char* what = "a task") {
  if (future.wait_for(deadlock_limit) != std::future_status::ready) deadlocked(what);
}

// await, then get().
template <class Future>
decltype(auto) get(Future& future, const char* what = "a task") {
  await(future, what);
  return future.get();
}

// Runs body() on a thread of its own and waits for it; aborts if it does not finish in time.
// Exceptions from body propagate to the caller.
template <class Body>
void finishes(Body body, const char* what = "the call") {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread runner([done, body = std::move(body)]() mutable {
    try {
      body();
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  if (finished.wait_for(deadlock_limit) != std::future_status::ready) {
    runner.detach();
    deadlocked(what);
  }
  runner.join();
  finished.get();
}

// Polls pred() until it holds or `limit` passes; returns pred(). For rendezvous inside tasks,
// where running out of time means the test fails (the caller asserts on the result).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

}  // namespace weft_test
