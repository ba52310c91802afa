// weft/join.hpp
//
// Fork-join: weft::join(pool, f, g) runs f and g, possibly at once, and returns both results.
// The fast path allocates nothing: g is pushed onto the caller's deque as a job that lives on the
// caller's stack; f runs right away; then g is popped back and run here unless a thief took it, in
// which case the caller helps with other work until the thief is done.
#pragma once

#include <concepts>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "thread_pool.hpp"

namespace weft {
namespace detail {

template <class F, class G>
std::pair<result_of_t<F>, result_of_t<G>> join_here(participant& me, F& f, G& g) {
  scheduler& core = *me.owner;
  stack_job<G> job_b(g, core.parking(), core.outside());
  core.push(me, &job_b);

  std::optional<result_of_t<F>> result_a;
  std::exception_ptr error_a;
  try {
    result_a.emplace(invoke_to_value(f));
  } catch (...) {
    error_a = std::current_exception();
  }

  // Take g back. Usually it is on top of our deque; tasks above it are ones that f spawned
  // without waiting for (task_group::run), and we run them on the way down.
  while (!job_b.finished.ready()) {
    const scheduler::found work = core.pop_local(me);
    if (work.task == &job_b) {
      job_b.run_here();
      break;
    }
    if (work.task == nullptr) {  // stolen: help until the thief is done with it
      core.help_until(me, job_b.finished);
      break;
    }
    core.execute(me, work);
  }

  // Both halves have finished: the first callable's exception wins.
  if (error_a) std::rethrow_exception(error_a);
  result_of_t<G> result_b = job_b.take();
  return {std::move(*result_a), std::move(result_b)};
}

}  // namespace detail

// Runs `f()` and `g()` to completion, in parallel when a worker is free, and returns
// {f's result, g's result}; a void callable contributes std::monostate. If both throw, f's
// exception is rethrown. From inside the pool it allocates nothing; from outside, the caller runs
// f itself and the pool may take g.
template <std::invocable F, std::invocable G>
auto join(thread_pool& pool, F&& f, G&& g)
    -> std::pair<detail::result_of_t<F&>, detail::result_of_t<G&>> {
  return detail::run_as_participant(
      pool, [&](detail::participant& me) { return detail::join_here(me, f, g); });
}

template <std::invocable F, std::invocable G>
auto join(F&& f, G&& g) -> std::pair<detail::result_of_t<F&>, detail::result_of_t<G&>> {
  return join(default_pool(), std::forward<F>(f), std::forward<G>(g));
}

}  // namespace weft
