#include "worker/server/shutdown_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

namespace infernum::worker {
namespace {

sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

bool BlockShutdownSignals() {
  const sigset_t set = ShutdownSet();
  return pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0;
}

std::optional<int> WaitForShutdownSignal(std::chrono::milliseconds timeout) {
  const sigset_t set = ShutdownSet();
  while (true) {
    int sig = -1;
    if (timeout.count() < 0) {
      sig = sigwaitinfo(&set, nullptr);
    } else {
      timespec ts;
      ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
      ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
      sig = sigtimedwait(&set, nullptr, &ts);
    }
    if (sig >= 0) return sig;
    if (errno == EAGAIN) return std::nullopt;
    if (errno != EINTR) return std::nullopt;
    // EINTR: another signal interrupted the wait; wait again (the timeout
    // restarts, which only lengthens a bounded wait slightly).
  }
}

}  // namespace infernum::worker
