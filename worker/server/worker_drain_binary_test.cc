// SIGTERM drain of the infernum-worker binary (argv[1]): with a request in
// flight, SIGTERM turns gRPC health NOT_SERVING, new Generate calls get
// UNAVAILABLE, /metrics keeps answering, the in-flight request runs to its
// normal end and the process exits 0. With a short grace period the request
// still running at its end is aborted with FINISH_REASON_ABORT and a message
// (never dropped silently), and the process exits 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/testing.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "worker/server/metrics_test_util.h"
#include "worker/server/server_test_util.h"

extern char** environ;

namespace infernum::worker::testing {
namespace {

std::string g_worker_binary;  // argv[1], set once in main().

using HealthResponse = grpc::health::v1::HealthCheckResponse;

// The worker process; SIGKILLed by the destructor if still running.
class WorkerProcess {
 public:
  ~WorkerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) std::fclose(out_);
  }

  // Starts the binary with `args`; stdout is read by NextLine().
  bool Start(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv = {g_worker_binary.data()};
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, g_worker_binary.c_str(), &actions,
                               nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    return rc == 0 && out_ != nullptr;
  }

  // The next stdout line without '\n'; nullopt at EOF (the worker exited).
  std::optional<std::string> NextLine() {
    char* line = nullptr;
    size_t cap = 0;
    const ssize_t n = getline(&line, &cap, out_);
    std::optional<std::string> out;
    if (n > 0) out = std::string(line, line[n - 1] == '\n' ? n - 1 : n);
    free(line);
    return out;
  }

  // Waits up to two minutes for the exit; the exit code, or -1 if it was
  // killed by a signal or did not exit in time.
  int WaitForExit() {
    for (int i = 0; i < 1200; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

struct Started {
  int grpc_port = 0;
  int metrics_port = 0;
};

// Starts the long-context random-weight model with /metrics on a free port
// and reads the two readiness lines.
std::optional<Started> StartWorker(WorkerProcess& process,
                                   double grace_seconds) {
  const WorkerConfig c = LongContextDummyConfig();  // Writes the config.json.
  const bool spawned = process.Start(
      {"--model-config", c.model_config, "--load-format", "dummy",
       "--dummy-dtype", "f32", "--threads", "1", "--listen", "127.0.0.1:0",
       "--metrics-listen", "127.0.0.1:0", "--kv-cache-memory", "24MiB",
       "--shutdown-grace-seconds", std::to_string(grace_seconds)});
  if (!spawned) return std::nullopt;
  Started out;
  std::smatch m;
  std::optional<std::string> line = process.NextLine();
  const std::regex grpc_line(
      R"(infernum-worker listening on 127\.0\.0\.1:(\d+) model=\S+)");
  if (!line || !std::regex_match(*line, m, grpc_line)) return std::nullopt;
  out.grpc_port = std::stoi(m[1]);
  line = process.NextLine();
  const std::regex metrics_line(
      R"(infernum-worker metrics listening on 127\.0\.0\.1:(\d+))");
  if (!line || !std::regex_match(*line, m, metrics_line)) return std::nullopt;
  out.metrics_port = std::stoi(m[1]);
  if (out.grpc_port == 0 || out.metrics_port == 0) return std::nullopt;
  return out;
}

HealthResponse::ServingStatus Health(grpc::Channel& channel) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse response;
  if (!stub->Check(&context, {}, &response).ok())
    return HealthResponse::UNKNOWN;
  return response.status();
}

// Everything after the first chunk of a stream.
struct Rest {
  int num_tokens = 0;
  std::optional<v1::GenerateFinal> final_message;
  grpc::Status status;
};

Rest ReadRest(grpc::ClientReader<v1::GenerateResponse>& reader) {
  Rest rest;
  v1::GenerateResponse response;
  while (reader.Read(&response)) {
    if (response.has_chunk()) rest.num_tokens += response.chunk().tokens_size();
    if (response.has_final()) rest.final_message = response.final();
  }
  rest.status = reader.Finish();
  return rest;
}

v1::GenerateRequest LongRequest(int max_tokens) {
  v1::GenerateRequest r = GreedyRequest("long", {1, 300, 301}, max_tokens);
  r.set_ignore_eos(true);
  return r;
}

TEST(WorkerDrainBinaryTest, SigtermDrainsInFlightThenExitsZero) {
  WorkerProcess process;
  const std::optional<Started> s = StartWorker(process, 300);
  ASSERT_TRUE(s.has_value()) << "worker did not print its readiness lines";
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(s->grpc_port),
                          grpc::InsecureChannelCredentials());
  auto stub = v1::Worker::NewStub(channel);
  ASSERT_EQ(Health(*channel), HealthResponse::SERVING);
  constexpr int kTokens = 3000;
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, LongRequest(kTokens));
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));
  ASSERT_TRUE(first.has_chunk());

  ASSERT_EQ(kill(process.pid(), SIGTERM), 0);
  HealthResponse::ServingStatus status = HealthResponse::SERVING;
  for (int i = 0; i < 1000 && status == HealthResponse::SERVING; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    status = Health(*channel);  // The signal is handled asynchronously.
  }
  EXPECT_EQ(status, HealthResponse::NOT_SERVING);
  EXPECT_EQ(
      RunGenerate(*stub, GreedyRequest("late", {1, 2}, 2)).status.error_code(),
      grpc::StatusCode::UNAVAILABLE);
  auto scrape = HttpGet("127.0.0.1", s->metrics_port, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();  // Still served while draining.
  EXPECT_EQ(scrape->status, 200);

  const Rest rest = ReadRest(*reader);
  EXPECT_TRUE(rest.status.ok()) << rest.status.error_message();
  ASSERT_TRUE(rest.final_message.has_value());
  EXPECT_EQ(rest.final_message->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(first.chunk().tokens_size() + rest.num_tokens, kTokens);
  EXPECT_EQ(process.WaitForExit(), 0);
}

TEST(WorkerDrainBinaryTest, GraceExpiryAbortsWithAReasonThenExitsZero) {
  WorkerProcess process;
  const std::optional<Started> s = StartWorker(process, 0.2);
  ASSERT_TRUE(s.has_value()) << "worker did not print its readiness lines";
  auto stub = v1::Worker::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(s->grpc_port),
                          grpc::InsecureChannelCredentials()));
  constexpr int kTokens = 16000;
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, LongRequest(kTokens));
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));
  ASSERT_EQ(kill(process.pid(), SIGTERM), 0);
  const Rest rest = ReadRest(*reader);
  EXPECT_TRUE(rest.status.ok()) << rest.status.error_message();
  ASSERT_TRUE(rest.final_message.has_value());
  EXPECT_EQ(rest.final_message->finish_reason(), v1::FINISH_REASON_ABORT);
  EXPECT_FALSE(rest.final_message->error_message().empty());
  EXPECT_LT(first.chunk().tokens_size() + rest.num_tokens, kTokens);
  EXPECT_EQ(process.WaitForExit(), 0);
}

}  // namespace
}  // namespace infernum::worker::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s INFERNUM_WORKER_BINARY\n", argv[0]);
    return 2;
  }
  infernum::worker::testing::g_worker_binary = argv[1];
  return RUN_ALL_TESTS();
}
