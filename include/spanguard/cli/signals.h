// Shutdown on SIGINT/SIGTERM without async-signal-safety traps: the signals are blocked in every
// thread and one watcher thread waits for them and calls an ordinary function.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace spanguard::cli {

class SignalWatcher {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread (and so in every thread started after this).
  explicit SignalWatcher(std::function<void(int signal)> on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  int received() const { return received_.load(); }  // the first signal, or 0

 private:
  std::function<void(int)> on_signal_;
  std::atomic<bool> done_{false};
  std::atomic<int> received_{0};
  std::thread thread_;
};

}  // namespace spanguard::cli
