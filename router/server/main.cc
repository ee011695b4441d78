// infernum-router: the stateless OpenAI-compatible HTTP front end.
//
//   infernum-router --config router.yaml [--listen HOST:PORT]
//                   [--workers h1:p1,h2:p2] [--max-body-bytes N] ...
//
// SIGTERM / SIGINT: graceful shutdown (stop accepting, new requests get
// 503, open streams get shutdown_grace_s to finish, the rest is
// cancelled), then exit 0. A second signal cancels at once.
// Exit codes: 0 after SIGINT/SIGTERM, 1 when the port cannot be bound,
// 2 for bad flags or config.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "router/server/config.h"
#include "router/server/router_app.h"

namespace infernum::router {
namespace {

// After the grace period, connection threads still busy (a client that
// stopped reading) get this long before the process exits regardless.
constexpr absl::Duration kExitTimeout = absl::Seconds(10);

// Waits for stop signals on its own thread: the first starts the graceful
// shutdown, a second cancels what is left at once. When the connection
// threads do not finish in time after shutdown, exits the process.
class SignalHandler {
 public:
  SignalHandler(RouterApp* app, absl::Duration grace, sigset_t signals)
      : app_(app), grace_(grace), signals_(signals) {
    thread_ = std::thread([this] { Run(); });
  }
  // Call once Serve() returned.
  ~SignalHandler() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      served_ = true;
    }
    cv_.notify_all();
    // Wake whichever thread still waits in sigwait (it sees served_ and
    // returns); the signal is blocked, so it stays pending otherwise.
    if (!shutting_down_.load()) pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
    if (second_.joinable()) {
      pthread_kill(second_.native_handle(), SIGTERM);
      second_.join();
    }
  }

 private:
  void Run() {
    int sig = 0;
    sigwait(&signals_, &sig);
    if (Served()) return;
    shutting_down_.store(true);
    LOG(INFO) << "signal " << sig << ": shutting down (grace " << grace_ << ")";
    second_ = std::thread([this] {
      int again = 0;
      sigwait(&signals_, &again);
      if (Served()) return;
      LOG(WARNING) << "signal " << again << ": cancelling open requests";
      app_->Shutdown(absl::ZeroDuration());
    });
    app_->Shutdown(grace_);
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoNanoseconds(kExitTimeout),
                      [this] { return served_; })) {
      LOG(WARNING) << "connections still open " << kExitTimeout
                   << " after the grace period: exiting";
      std::_Exit(0);
    }
  }
  bool Served() {
    std::lock_guard<std::mutex> lock(mu_);
    return served_;
  }

  RouterApp* app_;
  absl::Duration grace_;
  sigset_t signals_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool served_ = false;
  std::atomic<bool> shutting_down_{false};
  std::thread thread_;
  std::thread second_;  // Started by thread_; joined by the destructor.
};

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: infernum-router [--config router.yaml] [flags]\n"
                << cli::FlagHelp(RouterFlagSpecs());
      return 0;
    }
  }
  absl::StatusOr<RouterConfig> config = LoadRouterConfig(args);
  if (!config.ok()) {
    std::cerr << "infernum-router: " << config.status().message() << "\n";
    return 2;
  }
  if (config->workers.empty() && config->models.empty()) {
    LOG(WARNING) << "no workers configured: every request will get 503";
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<RouterApp>> app = RouterApp::Create(*config);
  if (!app.ok()) {
    std::cerr << "infernum-router: " << app.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<int> port = (*app)->Start();
  if (!port.ok()) {
    LOG(ERROR) << port.status().message();
    return 1;
  }
  LOG(INFO) << "infernum-router listening on " << config->listen.host << ":"
            << *port << " with " << (*app)->pool().num_workers()
            << " worker(s), " << (*app)->pool().registry().num_healthy()
            << " healthy";
  {
    SignalHandler handler(app->get(), absl::Seconds(config->shutdown_grace_s),
                          signals);
    (*app)->Serve();
  }
  app->reset();
  LOG(INFO) << "infernum-router stopped";
  return 0;
}

}  // namespace
}  // namespace infernum::router

int main(int argc, char** argv) { return infernum::router::Main(argc, argv); }
