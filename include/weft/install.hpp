// weft/install.hpp
//
// weft::install(pool, f) runs f() as part of the pool, waits for it, and returns its result (or
// rethrows its exception). Inside f, every primitive, join and task_group starts on the thread
// running f, with nothing handed over. The name and the idea are Rayon's ThreadPool::install.
//
// Why: a driver (a loop that calls primitives with sequential work between the calls) makes
// hundreds of calls from outside, each taking a caller slot and, in a pool with a worker per CPU,
// setting a worker aside (see detail::run_as_participant). Installed, the driver is one call: f
// runs on the calling thread in a caller slot, with a worker aside throughout where the pool has a
// worker per CPU, and every primitive inside starts on the thread that did the sequential work.
// (If other threads hold every caller slot, f is handed to a worker, as any call from outside.)
//
// From inside the pool (a task, a body), install just calls f. f may block; a worker blocked in f
// is a worker the pool does not have meanwhile, as with any task, and so, from outside, is the
// worker set aside while f blocks.
#pragma once

#include <concepts>
#include <functional>
#include <utility>

#include "thread_pool.hpp"

namespace weft {

template <std::invocable F>
decltype(auto) install(thread_pool& pool, F&& f) {
  return detail::run_as_participant(
      pool, [&](detail::participant&) -> decltype(auto) { return std::invoke(f); });
}

template <std::invocable F>
decltype(auto) install(F&& f) {
  return install(default_pool(), std::forward<F>(f));
}

}  // namespace weft
