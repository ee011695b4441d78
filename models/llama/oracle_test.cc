// Oracle test: C++ logits at every position against the independent PyTorch
// reference tests/oracle/llama_oracle.py (run in float64), for stories260K
// and for random-weight checkpoints made at test time by
// tests/oracle/make_random_llama.py (bf16 untied GQA 4:1 llama3-RoPE 2-shard;
// f32 tied; f16 linear-RoPE). Each prompt set runs under several schedules:
// whole-prompt prefill, token-by-token decode, fixed-size chunks, and all
// prompts batched together with mixed chunk sizes, the paged cache using
// block_size 4 and shuffled block ids (with stale data from earlier runs).
//
// Error metric, per prompt: max_i |cpp_i - oracle_i| / max(1, max_i
// |oracle_i|) over all positions and vocab entries; must be <= 1e-4.
// Needs /usr/bin/python3 with torch: the test FAILS (never skips) without.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/testing.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/llama/llama_model.h"
#include "models/llama/oracle_schedule.h"

namespace infernum::models {
namespace {

constexpr double kTolerance = 1e-4;

std::string OracleDir() {
  if (const char* d = std::getenv("INFERNUM_ORACLE_DIR")) return d;
  const char* src = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (src == nullptr || ws == nullptr) return "tests/oracle";
  return absl::StrCat(src, "/", ws, "/tests/oracle");
}

// Runs `/usr/bin/python3 tests/oracle/<script> <args>`; "" on success, else
// the exit status and the script's output.
std::string RunPython(const std::string& script, const std::string& args) {
  const std::string log = infernum::testing::TempDir() + "/python.log";
  const std::string cmd = absl::StrCat("/usr/bin/python3 ", OracleDir(), "/",
                                       script, " ", args, " >", log, " 2>&1");
  const int rc = std::system(cmd.c_str());
  if (rc == 0) return "";
  std::ifstream in(log);
  std::stringstream out;
  out << in.rdbuf();
  return absl::StrCat("`", cmd, "` exited with ", rc, ":\n", out.str());
}

// Reference logits ([len * vocab] per prompt) from llama_oracle.py.
std::vector<std::vector<double>> OracleLogits(
    const std::string& model_dir,
    const std::vector<std::vector<int32_t>>& prompts) {
  const std::string out = infernum::testing::TempDir() + "/oracle.json";
  std::string args = absl::StrCat("--model ", model_dir, " --out ", out,
                                  " --compute-dtype float64");
  for (const auto& p : prompts) {
    absl::StrAppend(&args, " --tokens '", absl::StrJoin(p, " "), "'");
  }
  const std::string err = RunPython("llama_oracle.py", args);
  EXPECT_EQ(err, "");
  std::vector<std::vector<double>> result;
  if (!err.empty()) return result;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& p : j.at("prompts")) {
    std::vector<double> flat;
    for (const auto& row : p.at("logits")) {
      for (const auto& v : row) flat.push_back(v.get<double>());
    }
    result.push_back(std::move(flat));
  }
  return result;
}

// Deterministic pseudo-random prompts of the given lengths (BOS first).
std::vector<std::vector<int32_t>> MakePrompts(const std::vector<int>& lens,
                                              int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> prompts;
  for (int len : lens) {
    std::vector<int32_t> p = {1};
    while (static_cast<int>(p.size()) < len) {
      p.push_back(static_cast<int32_t>(3 + rng() % (vocab - 3)));
    }
    prompts.push_back(std::move(p));
  }
  return prompts;
}

struct Variant {
  std::string name;
  std::string make_args;  // make_random_llama.py options; "" = stories260K.
};

class OracleTest : public ::testing::TestWithParam<Variant> {};

TEST_P(OracleTest, LogitsMatchAtEveryPosition) {
  const Variant& v = GetParam();
  std::string dir = infernum::testing::SharedModelsDir() + "/stories260K";
  if (!v.make_args.empty()) {
    dir = absl::StrCat(infernum::testing::TempDir(), "/", v.name);
    ASSERT_EQ(RunPython("make_random_llama.py",
                        absl::StrCat("--out ", dir, " ", v.make_args)),
              "");
  }
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto source = WeightSource::Open(dir);
  ASSERT_TRUE(source.ok()) << source.status();
  auto backend = kernels::CreateCpuBackend(0);
  auto model = LlamaModel::Load(*config, **source, *backend);
  ASSERT_TRUE(model.ok()) << model.status();

  auto prompts = MakePrompts({1, 5, 17, 64, 100}, config->vocab_size, 42);
  prompts[1] = {1, 403, 407, 261, 378};  // "Once upon a time" (stories).
  const auto oracle = OracleLogits(dir, prompts);
  ASSERT_EQ(oracle.size(), prompts.size());

  ScheduleRunner runner(**model);
  for (const Schedule& s : StandardSchedules()) {
    auto logits = runner.Run(prompts, s);
    ASSERT_TRUE(logits.ok()) << s.name << ": " << logits.status();
    for (size_t p = 0; p < prompts.size(); ++p) {
      const std::vector<float>& got = (*logits)[p];
      const std::vector<double>& want = oracle[p];
      ASSERT_EQ(got.size(), want.size());
      double max_diff = 0, max_ref = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(got[i] - want[i]));
        max_ref = std::max(max_ref, std::abs(want[i]));
      }
      const double err = max_diff / std::max(1.0, max_ref);
      EXPECT_LE(err, kTolerance)
          << v.name << " / " << s.name << " / prompt " << p << " (len "
          << prompts[p].size() << "): max diff " << max_diff << ", max |ref| "
          << max_ref;
      if (std::getenv("ORACLE_TEST_VERBOSE") != nullptr) {
        std::printf("%s / %s / len %zu: err %.3g (max |ref| %.3g)\n",
                    v.name.c_str(), s.name.c_str(), prompts[p].size(), err,
                    max_ref);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, OracleTest,
    ::testing::Values(
        Variant{"stories260K", ""},
        // Defaults: untied, GQA 4:1, llama3 rope_scaling, bf16, 2 shards.
        Variant{"random_bf16", "--seed 1"},
        Variant{"random_f32_tied",
                "--seed 2 --dtype float32 --tie "
                "--shards 1 --rope-scaling none"},
        Variant{"random_f16",
                "--seed 3 --dtype float16 --rope-scaling "
                "linear --rope-factor 2 --gqa-ratio 2 "
                "--shards 3"}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace infernum::models
