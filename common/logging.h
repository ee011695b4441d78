// Minimal leveled logging to stderr and CHECK for programmer errors.
//
//   LOG(INFO) << "loaded " << n << " tensors";
//   CHECK(ptr != nullptr) << "context";
//
// The minimum level comes from the INFERNUM_LOG_LEVEL environment variable
// (debug|info|warning|error; default info), read once per process. A CHECK
// failure prints the message and aborts: use it only for broken invariants,
// never for bad input (bad input returns absl::Status).
#pragma once

#include <sstream>
#include <string>

namespace infernum {

enum class LogLevel {
  kDebug = 0,
  kInfo = 1,
  kWarning = 2,
  kError = 3,
  kFatal = 4
};

// True when messages at `level` are printed.
bool LogEnabled(LogLevel level);

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();  // Writes one line; aborts for kFatal.
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream expression when a level is disabled.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace infernum

#define INFERNUM_LOG_LEVEL_DEBUG ::infernum::LogLevel::kDebug
#define INFERNUM_LOG_LEVEL_INFO ::infernum::LogLevel::kInfo
#define INFERNUM_LOG_LEVEL_WARNING ::infernum::LogLevel::kWarning
#define INFERNUM_LOG_LEVEL_ERROR ::infernum::LogLevel::kError
#define INFERNUM_LOG_LEVEL_FATAL ::infernum::LogLevel::kFatal

#define LOG(level)                                                       \
  !::infernum::LogEnabled(INFERNUM_LOG_LEVEL_##level)                    \
      ? (void)0                                                          \
      : ::infernum::LogVoidify() &                                       \
            ::infernum::LogMessage(INFERNUM_LOG_LEVEL_##level, __FILE__, \
                                   __LINE__)                             \
                .stream()

#define CHECK(cond)                                                           \
  (cond) ? (void)0                                                            \
         : ::infernum::LogVoidify() &                                         \
               ::infernum::LogMessage(::infernum::LogLevel::kFatal, __FILE__, \
                                      __LINE__)                               \
                       .stream()                                              \
                   << "CHECK failed: " #cond " "

#define CHECK_OK(expr)                                               \
  do {                                                               \
    auto _infernum_check_st = (expr);                                \
    CHECK(_infernum_check_st.ok()) << _infernum_check_st.ToString(); \
  } while (0)
