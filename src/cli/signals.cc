// Signal watcher thread.
#include "spanguard/cli/signals.h"

#include <signal.h>

#include <ctime>

namespace spanguard::cli {

namespace {

sigset_t watched_signals(bool hangup, bool reload) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (hangup) sigaddset(&set, SIGHUP);
  if (reload) sigaddset(&set, SIGUSR2);
  return set;
}

}  // namespace

void block_watched_signals() {
  const sigset_t set = watched_signals(true, true);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalWatcher::SignalWatcher(std::function<void(int)> on_signal, std::function<void()> on_hangup,
                             std::function<void()> on_reload)
    : on_signal_(std::move(on_signal)),
      on_hangup_(std::move(on_hangup)),
      on_reload_(std::move(on_reload)) {
  const sigset_t set =
      watched_signals(static_cast<bool>(on_hangup_), static_cast<bool>(on_reload_));
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this, set] {
    const timespec wait{0, 100'000'000};
    while (!done_.load()) {
      const int sig = sigtimedwait(&set, nullptr, &wait);
      if (sig == SIGHUP) {
        on_hangup_();
      } else if (sig == SIGUSR2) {
        on_reload_();
      } else if (sig > 0) {
        int expected = 0;
        received_.compare_exchange_strong(expected, sig);
        on_signal_(sig);
      }
    }
  });
}

SignalWatcher::~SignalWatcher() {
  done_.store(true);
  thread_.join();
}

}  // namespace spanguard::cli
