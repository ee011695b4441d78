// infernum-worker: serves one model replica over gRPC (worker.proto).
//
//   infernum-worker --config worker.yaml [--listen 127.0.0.1:0 ...]
//
// Exit codes: 0 after a clean shutdown (SIGTERM / SIGINT), 2 for bad
// settings or a model / address that cannot be used (one line on stderr),
// 1 for other failures. Prints "infernum-worker listening on HOST:PORT
// model=NAME" on stdout once it serves, then, with --metrics-listen,
// "infernum-worker metrics listening on HOST:PORT" (the bound port).
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "common/logging.h"
#include "worker/server/shutdown_signals.h"
#include "worker/server/worker_config.h"
#include "worker/server/worker_server.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "infernum-worker: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using infernum::worker::WorkerFlagSpecs;
  using infernum::worker::WorkerServer;
  // First, before gRPC or the engine start threads: every thread inherits
  // the mask, and the main thread collects the signals with sigwait.
  if (!infernum::worker::BlockShutdownSignals())
    return Fail("cannot block SIGTERM/SIGINT");
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = infernum::cli::ParseArgs(args, WorkerFlagSpecs());
  if (!parsed.ok()) return Fail(std::string(parsed.status().message()));
  if (parsed->GetBool("help", false)) {
    std::printf("usage: infernum-worker --config worker.yaml [flags]\n%s",
                infernum::cli::FlagHelp(WorkerFlagSpecs()).c_str());
    return 0;
  }
  auto config = infernum::worker::LoadWorkerConfig(*parsed);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  auto server = infernum::worker::WorkerServer::Start(*config);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  std::printf("infernum-worker listening on %s model=%s\n",
              (*server)->address().c_str(), (*server)->model_name().c_str());
  if ((*server)->metrics_port() != 0) {
    std::printf("infernum-worker metrics listening on %s\n",
                (*server)->metrics_address().c_str());
  }
  std::fflush(stdout);

  const auto sig =
      infernum::worker::WaitForShutdownSignal(std::chrono::milliseconds(-1));
  LOG(INFO) << "signal " << sig.value_or(-1) << ": draining (grace "
            << config->shutdown_grace_seconds << " s)";
  const auto grace = std::chrono::milliseconds(
      static_cast<int64_t>(config->shutdown_grace_seconds * 1000.0));
  WorkerServer* raw = server->get();
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    raw->Shutdown(grace);
    done = true;
  });
  while (!done) {  // A second signal cuts the grace period short.
    if (infernum::worker::WaitForShutdownSignal(std::chrono::milliseconds(100))
            .has_value()) {
      LOG(WARNING) << "second signal: aborting in-flight requests";
      raw->AbortInFlight();
    }
  }
  stopper.join();
  server->reset();
  LOG(INFO) << "shut down cleanly";
  return 0;
}
