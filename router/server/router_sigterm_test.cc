// The infernum-router binary under SIGTERM: it stops accepting, lets an
// open stream finish, then exits 0 (main.cc wiring, signal handling).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <string>

#include "common/testing.h"
#include "router/server/router_front_fixture.h"

namespace infernum::router::testing {
namespace {

std::string RouterBinary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "";
  return std::string(srcdir) + "/" + workspace + "/router/infernum-router";
}

// A started infernum-router child process, stderr captured in a file.
class RouterProcess {
 public:
  explicit RouterProcess(const std::vector<std::string>& args) {
    static int num_started = 0;  // One log file per process.
    log_path_ = ::infernum::testing::TempDir() + "/router_stderr_" +
                std::to_string(++num_started) + ".log";
    std::ofstream(log_path_).flush();  // Exists (empty) before the fork.
    pid_ = fork();
    if (pid_ == 0) {
      FILE* log = std::fopen(log_path_.c_str(), "a");
      if (log != nullptr) dup2(fileno(log), STDERR_FILENO);
      std::vector<char*> argv;
      std::string bin = RouterBinary();
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~RouterProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // The port from "listening on HOST:PORT", waiting for it; 0 on failure.
  int WaitPort() {
    int port = 0;
    Eventually([&] {
      std::smatch m;
      const std::string log = Log();
      static const std::regex re("listening on [^ ]*:([0-9]+)");
      if (std::regex_search(log, m, re)) port = std::stoi(m[1]);
      return port > 0;
    });
    return port;
  }
  void Signal(int sig) { kill(pid_, sig); }
  // Exit status, waiting for it; -1 when it did not exit normally.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

TEST_F(FrontTest, SigtermDrainsThenExitsZero) {
  ASSERT_FALSE(RouterBinary().empty());
  Valve valve(/*tokens_before_hold=*/1);
  worker_->SetScript(valve.Script());
  RouterProcess router({"--listen", "127.0.0.1:0", "--workers", address_,
                        "--shutdown-grace-s", "60", "--refresh-interval-s",
                        "0.2"});
  const int port = router.WaitPort();
  ASSERT_GT(port, 0) << router.Log();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  ASSERT_TRUE(Eventually([&] {
    auto res = client.Get("/ready");
    return res && res->status == 200;
  }));
  auto stream = std::async(std::launch::async, [port] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c.Post("/v1/completions", Completion(true).dump(),
                  "application/json");
  });
  ASSERT_TRUE(valve.WaitArrivals(1));
  router.Signal(SIGTERM);
  // It stops accepting connections while the stream is still open.
  EXPECT_TRUE(Eventually([&] {
    const int fd = ConnectLocal(port);
    if (fd >= 0) close(fd);
    return fd < 0;
  }));
  valve.Open();
  auto res = stream.get();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const std::vector<std::string> events = SseEvents(res->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(router.Wait(), 0) << router.Log();
  EXPECT_EQ(worker_->num_cancelled(), 0);
}

TEST_F(FrontTest, SigtermWithNothingOpenExitsAtOnce) {
  ASSERT_FALSE(RouterBinary().empty());
  RouterProcess router(
      {"--listen", "127.0.0.1:0", "--workers", address_, "--no-access-log"});
  ASSERT_GT(router.WaitPort(), 0) << router.Log();
  router.Signal(SIGTERM);
  EXPECT_EQ(router.Wait(), 0) << router.Log();
}

}  // namespace
}  // namespace infernum::router::testing
