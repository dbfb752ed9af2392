// Test helpers for black-box runs: a child process with captured output and a bounded wait, and a
// throwaway network namespace (created and always removed by the test).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace spanguard::testing {

// Runs `argv` with stdout and stderr written to files in a private temporary directory.
class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv);
  ~Subprocess();  // kills the child if it still runs
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Waits up to `limit` for the child to exit; returns its exit status, or -1 on time-out.
  int wait(std::chrono::milliseconds limit);
  void signal(int sig);
  // Polls stderr until it contains `text` (true) or the time runs out / the child exits (false).
  bool wait_for_stderr(const std::string& text, std::chrono::milliseconds limit);
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string dir_;
};

// Runs argv to completion (bounded) and returns {exit status, stdout, stderr}.
struct RunResult {
  int status;
  std::string out;
  std::string err;
};
RunResult run(std::vector<std::string> argv,
              std::chrono::milliseconds limit = std::chrono::seconds(60));

// Runs a shell command line; returns its exit status.
int shell(const std::string& command);

// A network namespace named `prefix-<pid>`, deleted on destruction.
class NetNamespace {
 public:
  explicit NetNamespace(const std::string& prefix);
  ~NetNamespace();
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Runs a shell command inside the namespace; returns its exit status.
  int exec(const std::string& command) const;
  // Moves the calling thread into the namespace (for raw sockets / pcap handles); false on failure.
  bool enter_this_thread() const;

 private:
  std::string name_;
  bool ok_ = false;
};

// The built sensor binary.
std::string spanguard_binary();
std::string collector_binary();  // spanguard-collector, next to it

// spanguard-collector listening on a loopback port the kernel picks, writing EVE to `out`;
// url() is empty when it did not report listening within 10 s.
class Collector {
 public:
  explicit Collector(const std::string& out);
  const std::string& url() const { return url_; }
  std::string log() const { return process_.stderr_text(); }

 private:
  Subprocess process_;
  std::string url_;
};
// A path in a fresh temporary directory that lives until the process exits.
std::string temp_path(const std::string& file_name);
// The non-empty lines of a text file (an EVE file, say); none when it cannot be read.
std::vector<std::string> lines_of(const std::string& path);

}  // namespace spanguard::testing
