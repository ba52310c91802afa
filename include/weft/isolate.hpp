// weft/isolate.hpp
//
// weft::isolate(pool, f) runs f() on the calling thread (on a worker if other threads hold every
// caller slot, as any call from outside). While f waits (in join, task_group::wait or a nested
// primitive), the thread running f runs only tasks spawned inside f, never unrelated ones.
//
// Why: a helping wait may pick up any task of the pool. If the waiting code holds a lock and the
// task it picks up needs that lock, the thread deadlocks on itself; if it holds a thread_local
// state, the unrelated task sees it. Isolate the region that waits while holding such state.
// Isolation costs some parallelism: the isolated thread helps less, and while it sleeps it is
// woken only by its own work finishing.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

#include "thread_pool.hpp"

namespace weft {

template <std::invocable F>
decltype(auto) isolate(thread_pool& pool, F&& f) {
  return detail::run_as_participant(pool, [&](detail::participant& me) -> decltype(auto) {
    struct restore {
      detail::participant& me;
      const void* previous;
      ~restore() { me.isolation = previous; }
    } guard{me, me.isolation};
    const char tag = 0;  // a unique address for as long as the region runs
    me.isolation = &tag;
    return std::invoke(f);
  });
}

template <std::invocable F>
decltype(auto) isolate(F&& f) {
  return isolate(default_pool(), std::forward<F>(f));
}

}  // namespace weft
