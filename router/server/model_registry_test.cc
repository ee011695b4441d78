#include "router/server/model_registry.h"

#include <gtest/gtest.h>

#include "router/api/errors.h"
#include "router/server/routing_policy.h"

namespace infernum::router {
namespace {

std::shared_ptr<const ModelAssets> Model(const std::string& id) {
  auto m = std::make_shared<ModelAssets>();
  m->model_id = id;
  m->max_context_length = 128;
  return m;
}

ErrorKind KindOf(const absl::StatusOr<ModelRegistry::Route>& r) {
  return ApiErrorFromStatus(r.status()).kind;
}

TEST(ModelRegistryTest, FindDistinguishesUnknownFromUnavailable) {
  ModelRegistry reg(3);
  // Nothing known and nothing healthy: 503, not 404.
  EXPECT_EQ(KindOf(reg.Find("m")), ErrorKind::kServiceUnavailable);
  reg.SetWorker(0, true, Model("a"));
  reg.SetWorker(1, true, Model("b"));
  reg.SetWorker(2, true, Model("a"));
  auto r = reg.Find("a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->workers, (std::vector<int>{0, 2}));
  EXPECT_EQ(r->assets->model_id, "a");
  EXPECT_EQ(KindOf(reg.Find("zzz")), ErrorKind::kModelNotFound);
  reg.MarkUnhealthy(1);
  EXPECT_EQ(KindOf(reg.Find("b")), ErrorKind::kServiceUnavailable);
  reg.SetWorker(1, true, nullptr);  // Back, model kept.
  EXPECT_TRUE(reg.Find("b").ok());
  EXPECT_EQ(reg.num_healthy(), 3);
  auto served = reg.ServedModels();
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0]->model_id, "a");
  EXPECT_EQ(served[1]->model_id, "b");
}

TEST(ModelRegistryTest, ConfiguredModelsAnswer503UntilServed) {
  ModelRegistry reg(1);
  reg.AddConfiguredModel("c");
  reg.SetWorker(0, true, Model("a"));
  EXPECT_EQ(KindOf(reg.Find("c")), ErrorKind::kServiceUnavailable);
  EXPECT_EQ(KindOf(reg.Find("d")), ErrorKind::kModelNotFound);
  const int w = reg.AddWorker();
  EXPECT_EQ(w, 1);
  EXPECT_FALSE(reg.IsHealthy(w));
  reg.SetWorker(w, true, Model("c"));
  auto r = reg.Find("c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->workers, (std::vector<int>{1}));
}

TEST(ModelRegistryTest, RetiredWorkersCountNowhere) {
  ModelRegistry reg(2);
  reg.SetWorker(0, true, Model("a"));
  reg.SetWorker(1, true, Model("b"));
  reg.SetRetired(1, true);
  EXPECT_TRUE(reg.IsRetired(1));
  EXPECT_FALSE(reg.IsHealthy(1));
  reg.SetWorker(1, true, Model("b"));  // A late poll result is ignored.
  EXPECT_FALSE(reg.IsHealthy(1));
  EXPECT_EQ(reg.num_workers(), 1);
  EXPECT_EQ(reg.num_slots(), 2);
  EXPECT_EQ(reg.num_healthy(), 1);
  // Its model is forgotten: "b" is unknown now.
  EXPECT_EQ(KindOf(reg.Find("b")), ErrorKind::kModelNotFound);
  EXPECT_EQ(reg.ServedModels().size(), 1u);
  reg.SetRetired(1, false);
  EXPECT_EQ(reg.num_workers(), 2);
  EXPECT_FALSE(reg.IsHealthy(1));  // Until its next poll.
  reg.SetWorker(1, true, Model("b"));
  EXPECT_TRUE(reg.Find("b").ok());
}

TEST(RoutingPolicyTest, RoundRobinCyclesPerModel) {
  RoundRobinPolicy policy;
  const std::vector<WorkerCandidate> three = {{0, 0}, {1, 5}, {2, 0}};
  std::vector<size_t> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(policy.Pick({"a", {}}, three));
  EXPECT_EQ(picks, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
  // Another model has its own counter.
  EXPECT_EQ(policy.Pick({"b", {}}, three), 0u);
}

}  // namespace
}  // namespace infernum::router
