// infernum-router: the stateless OpenAI-compatible HTTP front end.
//
//   infernum-router --config router.yaml [--listen HOST:PORT]
//                   [--workers h1:p1,h2:p2] [--max-body-bytes N] ...
//
// Exit codes: 0 after SIGINT/SIGTERM, 1 when the port cannot be bound,
// 2 for bad flags or config.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "router/server/api_service.h"
#include "router/server/config.h"
#include "router/server/http_server.h"
#include "router/server/routing_policy.h"
#include "router/server/worker_pool.h"

namespace infernum::router {
namespace {

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
  if (config->workers.empty()) {
    LOG(WARNING) << "no workers configured: every request will get 503";
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  WorkerPool pool(
      {.addresses = config->workers,
       .refresh_interval = absl::Seconds(config->refresh_interval_s),
       .model_info_timeout = absl::Seconds(config->model_info_timeout_s)},
      MakeDefaultRoutingPolicy());
  pool.RefreshAll();
  pool.StartBackgroundRefresh();

  ApiService service(
      &pool, {.max_tokens_cap = config->max_tokens_cap,
              .request_timeout = absl::Seconds(config->request_timeout_s),
              .max_worker_attempts = config->max_worker_attempts,
              .system_fingerprint = config->system_fingerprint});
  HttpServer server(&service, {.listen = config->listen,
                               .max_body_bytes = config->max_body_bytes,
                               .num_threads = config->http_threads});
  absl::StatusOr<int> port = server.Bind();
  if (!port.ok()) {
    LOG(ERROR) << port.status().message();
    return 1;
  }
  LOG(INFO) << "infernum-router listening on " << config->listen.host << ":"
            << *port << " with " << config->workers.size() << " worker(s), "
            << pool.registry().num_healthy() << " healthy";

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    LOG(INFO) << "signal " << sig << ": shutting down";
    server.Stop();
  });
  server.Serve();
  server.Stop();
  pthread_kill(waiter.native_handle(), SIGTERM);  // Wake it if still waiting.
  waiter.join();
  return 0;
}

}  // namespace
}  // namespace infernum::router

int main(int argc, char** argv) { return infernum::router::Main(argc, argv); }
