// SIGTERM / SIGINT handling without signal handlers: the signals are blocked
// in every thread (the mask is inherited by threads created later, so block
// them first thing in main) and a thread collects them with sigtimedwait.
#pragma once

#include <chrono>
#include <optional>

namespace infernum::worker {

// Blocks SIGTERM and SIGINT in the calling thread and in every thread it
// creates afterwards. Call in main() before any other thread exists.
// Returns false (errno set) if the mask could not be changed.
bool BlockShutdownSignals();

// Waits up to `timeout` for SIGTERM or SIGINT (which must be blocked, see
// above) and returns the signal number, or nullopt on timeout. A negative
// timeout waits forever.
std::optional<int> WaitForShutdownSignal(std::chrono::milliseconds timeout);

}  // namespace infernum::worker
