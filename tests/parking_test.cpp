// Tests of weft::detail::parking_lot, where idle participants sleep: prepare / cancel / park,
// wake_one, wake (directed) and wake_all.
#include <weft/detail/parking.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>

#include <catch2/catch.hpp>

namespace {

using namespace std::chrono_literals;

// Sanitized builds run the race loops fewer times.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int race_rounds = 3000;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr int race_rounds = 3000;
#else
constexpr int race_rounds = 30000;
#endif
#else
constexpr int race_rounds = 30000;
#endif

// Spins (politely) until pred() holds or `limit` passes; returns pred().
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("parking_lot: a thread parked open to work is woken by wake_one") {
  weft::detail::parking_lot lot(3);
  REQUIRE_FALSE(lot.anyone_parked());
  REQUIRE_FALSE(lot.wake_one());  // nobody to wake

  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    lot.prepare(1, /*open_to_work=*/true);
    lot.park(1);
    lot.cancel(1);
    woke.store(true);
  });

  REQUIRE(eventually([&] { return lot.anyone_parked(); }));
  const bool claimed = lot.wake_one();
  const bool returned = eventually([&] { return woke.load(); });
  if (!returned) lot.wake_all(3);  // rescue the thread so the test fails instead of hanging
  sleeper.join();
  REQUIRE(claimed);
  REQUIRE(returned);
  REQUIRE_FALSE(lot.anyone_parked());
  REQUIRE_FALSE(lot.wake_one());
}

TEST_CASE("parking_lot: prepare announces a participant open to work and cancel withdraws it") {
  weft::detail::parking_lot lot(70);  // more than one 64-bit word of the mask
  lot.prepare(66, true);
  REQUIRE(lot.anyone_parked());
  lot.cancel(66);
  REQUIRE_FALSE(lot.anyone_parked());
  REQUIRE_FALSE(lot.wake_one());

  // A participant that is about to park but not open to work is not in the mask.
  lot.prepare(5, false);
  REQUIRE_FALSE(lot.anyone_parked());
  REQUIRE_FALSE(lot.wake_one());
  lot.cancel(5);
  lot.cancel(5);  // twice is harmless
  REQUIRE_FALSE(lot.anyone_parked());
}

TEST_CASE("parking_lot: wake_one wakes each parked participant once, in any word of the mask") {
  weft::detail::parking_lot lot(70);
  lot.prepare(3, true);
  lot.prepare(68, true);
  REQUIRE(lot.wake_one());
  REQUIRE(lot.anyone_parked());
  REQUIRE(lot.wake_one());
  REQUIRE_FALSE(lot.anyone_parked());
  REQUIRE_FALSE(lot.wake_one());
  // Both were woken before parking: park returns at once instead of sleeping.
  lot.park(3);
  lot.park(68);
  lot.cancel(3);
  lot.cancel(68);
}

TEST_CASE("parking_lot: waking a participant that is not parked is harmless") {
  weft::detail::parking_lot lot(4);
  lot.wake(2);
  lot.wake(2);
  REQUIRE_FALSE(lot.anyone_parked());
  REQUIRE_FALSE(lot.wake_one());

  // Participant 2 still parks and is woken normally afterwards.
  std::atomic<bool> prepared{false};
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    lot.prepare(2, /*open_to_work=*/false);
    prepared.store(true);
    lot.park(2);
    lot.cancel(2);
    woke.store(true);
  });
  REQUIRE(eventually([&] { return prepared.load(); }));
  // Not open to work: wake_one must leave it alone.
  const bool wake_one_claimed = lot.wake_one();
  lot.wake(2);
  const bool returned = eventually([&] { return woke.load(); });
  if (!returned) lot.wake_all(4);
  sleeper.join();
  REQUIRE_FALSE(wake_one_claimed);
  REQUIRE(returned);
  REQUIRE_FALSE(lot.anyone_parked());
}

TEST_CASE("parking_lot: wake_all wakes every parked participant") {
  constexpr std::size_t count = 4;
  weft::detail::parking_lot lot(count);
  std::atomic<int> prepared{0};
  std::atomic<int> woke{0};
  std::thread sleepers[count];
  for (std::size_t i = 0; i < count; ++i) {
    sleepers[i] = std::thread([&, i] {
      lot.prepare(i, i % 2 == 0);
      prepared.fetch_add(1);
      lot.park(i);
      lot.cancel(i);
      woke.fetch_add(1);
    });
  }
  REQUIRE(eventually([&] { return prepared.load() == static_cast<int>(count); }));
  lot.wake_all(count);
  const bool all_returned = eventually([&] { return woke.load() == static_cast<int>(count); });
  if (!all_returned)
    for (std::size_t i = 0; i < count; ++i) lot.wake(i);  // rescue, so the test fails, not hangs
  for (auto& thread : sleepers) thread.join();
  REQUIRE(all_returned);
  REQUIRE_FALSE(lot.anyone_parked());
}

TEST_CASE("parking_lot: no wake-up is lost when publishing work races with parking (wake_one)") {
  weft::detail::parking_lot lot(4);
  constexpr std::size_t me = 2;
  std::atomic<int> published{0};
  std::atomic<int> consumed{0};
  std::atomic<bool> give_up{false};

  // The consumer follows the protocol of the scheduler's idle loop.
  std::thread consumer([&] {
    int seen = 0;
    while (seen < race_rounds && !give_up.load()) {
      if (published.load() > seen) {
        seen = published.load();
        consumed.store(seen);
        continue;
      }
      lot.prepare(me, /*open_to_work=*/true);
      if (published.load() > seen || give_up.load()) {  // the re-check after announcing
        lot.cancel(me);
        continue;
      }
      lot.park(me);
      lot.cancel(me);
    }
  });

  int lost_at = -1;
  for (int i = 1; i <= race_rounds; ++i) {
    published.store(i);
    lot.wake_one();
    if (!eventually([&] { return consumed.load() >= i; }, 10s)) {
      lost_at = i;
      break;
    }
  }
  give_up.store(true);
  lot.wake_all(4);
  consumer.join();
  INFO("the consumer slept through publication " << lost_at);
  REQUIRE(lost_at == -1);
  REQUIRE(consumed.load() == race_rounds);
}

TEST_CASE("parking_lot: no wake-up is lost when a directed wake races with parking (wake)") {
  weft::detail::parking_lot lot(4);
  constexpr std::size_t me = 1;
  std::atomic<int> published{0};
  std::atomic<int> consumed{0};
  std::atomic<bool> give_up{false};

  // The consumer follows the protocol of a latch waiter: parked, but not open to other work.
  std::thread consumer([&] {
    int seen = 0;
    while (seen < race_rounds && !give_up.load()) {
      if (published.load() > seen) {
        seen = published.load();
        consumed.store(seen);
        continue;
      }
      lot.prepare(me, /*open_to_work=*/false);
      if (published.load() > seen || give_up.load()) {
        lot.cancel(me);
        continue;
      }
      lot.park(me);
      lot.cancel(me);
    }
  });

  int lost_at = -1;
  for (int i = 1; i <= race_rounds; ++i) {
    published.store(i);
    lot.wake(me);
    if (!eventually([&] { return consumed.load() >= i; }, 10s)) {
      lost_at = i;
      break;
    }
  }
  give_up.store(true);
  lot.wake_all(4);
  consumer.join();
  INFO("the consumer slept through publication " << lost_at);
  REQUIRE(lost_at == -1);
  REQUIRE(consumed.load() == race_rounds);
}
