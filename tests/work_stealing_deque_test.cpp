// Tests of weft::detail::work_stealing_deque, the Chase-Lev deque behind every participant.
#include <weft/detail/work_stealing_deque.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using deque_type = weft::detail::work_stealing_deque<int>;

constexpr auto accept_all = [](const void*) { return true; };

}  // namespace

TEST_CASE("work_stealing_deque: the owner pops the newest task first (LIFO)") {
  deque_type deque;
  std::vector<int> items(10);
  for (auto& item : items) deque.push(&item, nullptr);
  for (int i = 9; i >= 0; --i)
    REQUIRE(deque.pop(accept_all).task == &items[static_cast<std::size_t>(i)]);
  REQUIRE(deque.pop(accept_all).task == nullptr);
  REQUIRE(deque.looks_empty());
}

TEST_CASE("work_stealing_deque: a thief steals the oldest task first (FIFO)") {
  deque_type deque;
  std::vector<int> items(10);
  for (auto& item : items) deque.push(&item, nullptr);
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto stolen = deque.steal(accept_all);
    REQUIRE(stolen.task == &items[i]);
    REQUIRE_FALSE(stolen.contended);
  }
  auto none = deque.steal(accept_all);
  REQUIRE(none.task == nullptr);
  REQUIRE_FALSE(none.contended);
  REQUIRE(deque.pop(accept_all).task == nullptr);
}

TEST_CASE("work_stealing_deque: pop and steal meet in the middle without losing a task") {
  deque_type deque;
  std::vector<int> items(6);
  for (auto& item : items) deque.push(&item, nullptr);
  REQUIRE(deque.steal(accept_all).task == &items[0]);
  REQUIRE(deque.pop(accept_all).task == &items[5]);
  REQUIRE(deque.steal(accept_all).task == &items[1]);
  REQUIRE(deque.pop(accept_all).task == &items[4]);
  REQUIRE(deque.pop(accept_all).task == &items[3]);
  REQUIRE(deque.steal(accept_all).task == &items[2]);
  REQUIRE(deque.pop(accept_all).task == nullptr);
  REQUIRE(deque.steal(accept_all).task == nullptr);
  // Usable again after running empty.
  deque.push(&items[0], nullptr);
  REQUIRE(deque.pop(accept_all).task == &items[0]);
}

TEST_CASE("work_stealing_deque: growing past the initial capacity keeps every task in order") {
  deque_type deque(16);
  constexpr std::size_t count = 5000;  // many doublings from 16
  std::vector<int> items(count);
  // Interleave steals so that top is not zero when the ring grows (the copy must wrap correctly).
  std::size_t next_stolen = 0;
  for (std::size_t i = 0; i < count; ++i) {
    deque.push(&items[i], nullptr);
    if (i % 7 == 3) {
      REQUIRE(deque.steal(accept_all).task == &items[next_stolen]);
      ++next_stolen;
    }
  }
  // The oldest half by stealing, the rest by popping from the newest end.
  const std::size_t middle = next_stolen + (count - next_stolen) / 2;
  for (; next_stolen < middle; ++next_stolen)
    REQUIRE(deque.steal(accept_all).task == &items[next_stolen]);
  for (std::size_t i = count; i > middle; --i) REQUIRE(deque.pop(accept_all).task == &items[i - 1]);
  REQUIRE(deque.pop(accept_all).task == nullptr);
  REQUIRE(deque.steal(accept_all).task == nullptr);
}

TEST_CASE("work_stealing_deque: pop and steal refuse a task whose tag the filter rejects") {
  deque_type deque;
  const char region_a = 0;
  const char region_b = 0;
  int untagged = 0;
  int in_a = 0;
  int in_b = 0;
  deque.push(&untagged, nullptr);
  deque.push(&in_a, &region_a);
  deque.push(&in_b, &region_b);

  const auto only_a = [&](const void* tag) { return tag == &region_a; };
  const auto only_b = [&](const void* tag) { return tag == &region_b; };

  // The newest is tagged b: the owner restricted to a gets nothing and disturbs nothing.
  REQUIRE(deque.pop(only_a).task == nullptr);
  // The oldest is untagged: a thief restricted to a or b gets nothing, and is not told to retry.
  auto refused = deque.steal(only_a);
  REQUIRE(refused.task == nullptr);
  REQUIRE_FALSE(refused.contended);
  REQUIRE(deque.steal(only_b).task == nullptr);

  // Everything is still there, and each filter gets exactly what it accepts.
  REQUIRE(deque.pop(only_b).task == &in_b);
  REQUIRE(deque.pop(only_a).task == &in_a);
  REQUIRE(deque.pop(only_a).task == nullptr);
  REQUIRE(deque.steal(accept_all).task == &untagged);
  REQUIRE(deque.pop(accept_all).task == nullptr);
}

TEST_CASE("work_stealing_deque: the tag travels with the task through growth") {
  deque_type deque(16);
  const char region = 0;
  std::vector<int> items(100);
  for (std::size_t i = 0; i < items.size(); ++i)
    deque.push(&items[i], i % 2 == 0 ? static_cast<const void*>(&region) : nullptr);
  const auto only_region = [&](const void* tag) { return tag == &region; };
  const auto only_untagged = [](const void* tag) { return tag == nullptr; };
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i % 2 == 0) {
      REQUIRE(deque.steal(only_untagged).task == nullptr);
      REQUIRE(deque.steal(only_region).task == &items[i]);
    } else {
      REQUIRE(deque.steal(only_region).task == nullptr);
      REQUIRE(deque.steal(only_untagged).task == &items[i]);
    }
  }
}

TEST_CASE(
    "work_stealing_deque: with one owner and three thieves every task is taken exactly once") {
  constexpr int rounds = 200;
  constexpr std::size_t per_round = 2000;
  constexpr int thieves = 3;

  for (int round = 0; round < rounds; ++round) {
    // A small initial capacity so that the ring also grows while thieves read it.
    deque_type deque(16);
    std::vector<int> items(per_round);
    auto taken = std::make_unique<std::atomic<int>[]>(per_round);
    for (std::size_t i = 0; i < per_round; ++i) taken[i].store(0, std::memory_order_relaxed);
    std::atomic<bool> owner_done{false};
    std::atomic<std::size_t> total{0};

    const auto take = [&](int* task) {
      const auto index = static_cast<std::size_t>(task - items.data());
      taken[index].fetch_add(1, std::memory_order_relaxed);
      total.fetch_add(1, std::memory_order_relaxed);
    };

    std::vector<std::thread> threads;
    for (int t = 0; t < thieves; ++t) {
      threads.emplace_back([&] {
        for (;;) {
          const bool finished = owner_done.load(std::memory_order_acquire);
          auto stolen = deque.steal(accept_all);
          if (stolen.task != nullptr) {
            take(stolen.task);
          } else if (finished && !stolen.contended) {
            return;  // the owner has left an empty deque
          }
        }
      });
    }

    // The owner pushes in bursts and pops some back, as a worker does with join.
    std::size_t pushed = 0;
    while (pushed < per_round) {
      const std::size_t burst = std::min<std::size_t>(per_round - pushed, 1 + (pushed * 7919) % 37);
      for (std::size_t k = 0; k < burst; ++k, ++pushed) deque.push(&items[pushed], nullptr);
      for (std::size_t k = 0; k < burst / 2; ++k)
        if (int* task = deque.pop(accept_all).task) take(task);
    }
    while (int* task = deque.pop(accept_all).task) take(task);
    owner_done.store(true, std::memory_order_release);
    for (auto& thread : threads) thread.join();

    REQUIRE(total.load() == per_round);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < per_round; ++i)
      if (taken[i].load(std::memory_order_relaxed) != 1) ++wrong;
    INFO("round " << round);
    REQUIRE(wrong == 0);
  }
}
