// weft/install.hpp
//
// weft::install(pool, f) runs f() as part of the pool, waits for it, and returns its result (or
// rethrows its exception). Inside f, every primitive, join and task_group starts on the thread
// running f, with nothing handed over. The name and the idea are Rayon's ThreadPool::install.
//
// Why: a driver (a loop that calls primitives with sequential work between the calls) called
// from outside a pool with a worker per CPU pays for each call a hand-off to a worker and back,
// and a worker that parked during the sequential work has to be woken. Installed, the driver runs
// on a worker: the thread that did the sequential work starts the next call itself, and the other
// workers join it. On a pool with fewer workers than CPUs, f runs on the calling thread in a caller
// slot instead, where it adds the CPU the workers leave free.
//
// From inside the pool (a task, a body), install just calls f. f may block; a worker blocked in f
// is a worker the pool does not have meanwhile, as with any task.
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
