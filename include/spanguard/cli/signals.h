// Shutdown on SIGINT/SIGTERM, and SIGHUP for log rotation (Suricata's convention), without
// async-signal-safety traps: the signals are blocked in every thread and one watcher thread waits
// for them and calls ordinary functions.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace spanguard::cli {

// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR2 in the calling thread, and so in every thread it
// starts later. Call it before the first thread of a long run exists (the alert stream's, the
// responder's): a thread that leaves them unblocked would take a process-directed signal with its
// default action, ending the sensor without draining its alerts. They wait pending until a
// SignalWatcher takes them.
void block_watched_signals();

class SignalWatcher {
 public:
  // Blocks SIGINT and SIGTERM (and SIGHUP, SIGUSR2 when their callbacks are given) in the calling
  // thread, and so in every thread started after this. `on_signal` runs for SIGINT/SIGTERM,
  // `on_hangup` for SIGHUP (log rotation), `on_reload` for SIGUSR2 (rule reload, Suricata's
  // signal); neither of the last two counts as received().
  explicit SignalWatcher(std::function<void(int signal)> on_signal,
                         std::function<void()> on_hangup = {},
                         std::function<void()> on_reload = {});
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  int received() const { return received_.load(); }  // the first signal, or 0

 private:
  std::function<void(int)> on_signal_;
  std::function<void()> on_hangup_;
  std::function<void()> on_reload_;
  std::atomic<bool> done_{false};
  std::atomic<int> received_{0};
  std::thread thread_;
};

}  // namespace spanguard::cli
