// KV cache memory planning: the sizing arithmetic on fake free-memory
// figures (what a GPU worker does at start-up, without a GPU), and the
// profile step of PlanKvCacheOnDevice on the CPU backend, and the KV cache
// dtype setting reaching the model.
#include "worker/model_setup.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "common/testing.h"

namespace infernum::worker {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

// Llama-3.1-8B with 16-token blocks: 32 layers x (K + V) x 8 KV heads x
// 128 dims x 2 bytes x 16 tokens = 2 MiB per block; 131072-token context.
KvCachePlanInputs Llama8bOnH100() {
  KvCachePlanInputs in;
  in.free_bytes = 64 * kGiB;
  in.workspace_bytes = 2 * kGiB;
  in.gpu_memory_utilization = 0.9;
  in.bytes_per_block = 2 * kMiB;
  in.block_size = 16;
  in.max_model_len = 131072;
  return in;
}

TEST(PlanKvCacheTest, FreeMinusWorkspaceTimesUtilization) {
  auto plan = PlanKvCache(Llama8bOnH100());
  ASSERT_TRUE(plan.ok()) << plan.status();
  // (64 - 2) GiB * 0.9 = 55.8 GiB = 57139.2 MiB -> 28569 blocks of 2 MiB.
  EXPECT_EQ(plan->usable_bytes, static_cast<int64_t>(62 * kGiB * 0.9));
  EXPECT_EQ(plan->num_blocks, 28569);
  EXPECT_EQ(plan->kv_cache_bytes, 28569 * 2 * kMiB);
  EXPECT_EQ(plan->min_blocks, 131072 / 16);
  EXPECT_LE(plan->kv_cache_bytes, plan->usable_bytes);
  EXPECT_GT(plan->kv_cache_bytes + 2 * kMiB, plan->usable_bytes);
}

TEST(PlanKvCacheTest, UtilizationScalesTheCache) {
  KvCachePlanInputs in = Llama8bOnH100();
  in.gpu_memory_utilization = 1.0;
  auto full = PlanKvCache(in);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->num_blocks, 62 * 512);  // 62 GiB of 2 MiB blocks.
  in.gpu_memory_utilization = 0.5;
  auto half = PlanKvCache(in);
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_EQ(half->num_blocks, 31 * 512);
}

TEST(PlanKvCacheTest, OneMaxLengthSequenceIsTheFloor) {
  KvCachePlanInputs in = Llama8bOnH100();
  // Exactly 8192 blocks (one 131072-token sequence) fit: accepted.
  in.gpu_memory_utilization = 1.0;
  in.free_bytes = in.workspace_bytes + 8192 * 2 * kMiB;
  auto exact = PlanKvCache(in);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->num_blocks, 8192);
  // One byte less: refused, with the figures and the remedies.
  in.free_bytes -= 1;
  auto short_by_one = PlanKvCache(in);
  ASSERT_FALSE(short_by_one.ok());
  EXPECT_EQ(short_by_one.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string msg(short_by_one.status().message());
  EXPECT_NE(msg.find("131072-token"), std::string::npos) << msg;
  EXPECT_NE(msg.find("131056 tokens"), std::string::npos) << msg;  // 8191 * 16
  EXPECT_NE(msg.find("--max-model-len"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--gpu-memory-utilization"), std::string::npos) << msg;
}

TEST(PlanKvCacheTest, WorkspaceLargerThanFreeMemoryIsAnError) {
  KvCachePlanInputs in = Llama8bOnH100();
  in.free_bytes = kGiB;
  in.workspace_bytes = 3 * kGiB;
  auto plan = PlanKvCache(in);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PlanKvCacheTest, ShorterMaxModelLenFitsWhereTheFullOneDoesNot) {
  KvCachePlanInputs in = Llama8bOnH100();
  in.free_bytes = 12 * kGiB;  // 9 GiB usable: 4608 blocks = 73728 tokens.
  ASSERT_FALSE(PlanKvCache(in).ok());
  in.max_model_len = 65536;
  auto plan = PlanKvCache(in);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_blocks, 4608);
}

TEST(PlanKvCacheTest, BadInputsAreInvalidArgument) {
  for (double u : {0.0, -0.1, 1.01, std::numeric_limits<double>::quiet_NaN()}) {
    KvCachePlanInputs in = Llama8bOnH100();
    in.gpu_memory_utilization = u;
    EXPECT_EQ(PlanKvCache(in).status().code(),
              absl::StatusCode::kInvalidArgument)
        << u;
  }
  KvCachePlanInputs in = Llama8bOnH100();
  in.bytes_per_block = 0;
  EXPECT_EQ(PlanKvCache(in).status().code(),
            absl::StatusCode::kInvalidArgument);
  in = Llama8bOnH100();
  in.max_model_len = 0;
  EXPECT_EQ(PlanKvCache(in).status().code(),
            absl::StatusCode::kInvalidArgument);
}

ModelSetupOptions StoriesOnCpu() {
  ModelSetupOptions o;
  o.model_dir = infernum::testing::SharedModelsDir() + "/stories260K";
  o.backend.name = "cpu";
  o.backend.num_threads = 1;
  return o;
}

LoadedModel LoadStoriesOnCpu() {
  auto loaded = SetupModel(StoriesOnCpu());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return std::move(loaded).value();
}

// kv_cache_dtype reaches the model: every MakeKvCacheShape caller sees it,
// and a bf16 block is half an f32 one.
TEST(SetupModelTest, KvCacheDTypeIsSetOnTheModel) {
  ModelSetupOptions o = StoriesOnCpu();
  o.kv_cache_dtype = "auto";
  auto f32 = SetupModel(o);
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_EQ(f32->model->kv_cache_dtype(), kernels::DType::kF32);
  o.kv_cache_dtype = "bf16";
  auto bf16 = SetupModel(o);
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ(bf16->model->MakeKvCacheShape(1, 16).dtype, kernels::DType::kBF16);
  EXPECT_EQ(2 * bf16->model->MakeKvCacheShape(1, 16).BytesPerBlock(),
            f32->model->MakeKvCacheShape(1, 16).BytesPerBlock());
  for (const char* bad : {"fp8", "f16"}) {  // f16: no CPU attention for it.
    o.kv_cache_dtype = bad;
    auto r = SetupModel(o);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status();
  }
}

TEST(PlanKvCacheOnDeviceTest, ProfileStepRunsAndPlanHoldsALongestSequence) {
  LoadedModel loaded = LoadStoriesOnCpu();
  EXPECT_FALSE(loaded.cuda_graphs);  // Never on the CPU backend.
  DeviceMemoryOptions o;
  o.block_size = 16;
  o.max_model_len = 128;  // 300 tokens: sequences of 128, 128 and 44.
  o.max_num_batched_tokens = 300;
  o.max_num_seqs = 8;
  auto plan = PlanKvCacheOnDevice(loaded, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const int64_t per_block = static_cast<int64_t>(
      loaded.model->MakeKvCacheShape(1, 16).BytesPerBlock());
  EXPECT_EQ(plan->min_blocks, 128 / 16);
  EXPECT_GE(plan->num_blocks, plan->min_blocks);
  EXPECT_EQ(plan->kv_cache_bytes, plan->num_blocks * per_block);
}

TEST(PlanKvCacheOnDeviceTest, BadOptionsAreInvalidArgument) {
  LoadedModel loaded = LoadStoriesOnCpu();
  DeviceMemoryOptions o;
  o.max_num_batched_tokens = 0;
  EXPECT_EQ(PlanKvCacheOnDevice(loaded, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = DeviceMemoryOptions();
  o.gpu_memory_utilization = 2.0;
  EXPECT_EQ(PlanKvCacheOnDevice(loaded, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infernum::worker
