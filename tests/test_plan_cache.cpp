// detail::PlanCache (src/plan_cache.hpp): hits return the stored plan without building it, a failed
// build stores nothing, evicted plans stay alive for their holders, and the least recently used entry
// is the one replaced.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "plan_cache.hpp"

using posenc::detail::PlanCache;

namespace {

struct Counting {
  PlanCache<int, std::string, 4> cache;
  std::vector<int> built;
  std::shared_ptr<const std::string> get(int key) {
    return cache.get(key, [&] {
      built.push_back(key);
      return "plan " + std::to_string(key);
    });
  }
};

}  // namespace

TEST(PlanCache, HitsDoNotRebuild) {
  Counting c;
  EXPECT_EQ(*c.get(1), "plan 1");
  EXPECT_EQ(*c.get(2), "plan 2");
  EXPECT_EQ(*c.get(1), "plan 1");
  EXPECT_EQ(c.get(1).get(), c.get(1).get()) << "the same plan object";
  EXPECT_EQ(c.built, (std::vector<int>{1, 2}));
}

TEST(PlanCache, ReplacesTheLeastRecentlyUsed) {
  Counting c;
  for (int k : {1, 2, 3, 4}) c.get(k);
  c.get(1);  // 1 is now the most recent; 2 the least
  c.get(5);  // evicts 2
  c.built.clear();
  for (int k : {1, 3, 4, 5}) c.get(k);
  EXPECT_TRUE(c.built.empty()) << "rebuilt " << c.built.size() << " plans that should be cached";
  c.get(2);
  EXPECT_EQ(c.built, (std::vector<int>{2}));
  // A key used at every step survives any number of others passing through.
  c.get(1);
  c.built.clear();
  std::vector<int> others;
  for (int k = 10; k < 30; ++k) {
    c.get(k);
    c.get(1);
    others.push_back(k);
  }
  EXPECT_EQ(c.built, others) << "key 1 was rebuilt";
}

TEST(PlanCache, FailedBuildsStoreNothingAndEvictedPlansLive) {
  Counting c;
  const auto held = c.get(1);
  EXPECT_THROW(c.cache.get(7, []() -> std::string { throw std::runtime_error("no"); }), std::runtime_error);
  for (int k : {2, 3, 4, 5}) c.get(k);  // 1 evicted
  EXPECT_EQ(*held, "plan 1");
  c.built.clear();
  c.get(7);
  c.get(1);
  EXPECT_EQ(c.built, (std::vector<int>{7, 1}));
}
