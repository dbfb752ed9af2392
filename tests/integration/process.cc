// Child processes and network namespaces for black-box tests.
#include "process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace spanguard::testing {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "spanguard-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv) : dir_(make_temp_dir()) {
  const std::string out = dir_ + "/stdout", err = dir_ + "/stderr";
  pid_ = fork();
  if (pid_ == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    // The test runner may block signals; the child must see SIGTERM/SIGINT like a real process.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && status_ == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::filesystem::remove_all(dir_);
}

int Subprocess::wait(std::chrono::milliseconds limit) {
  if (status_ != -1) return status_;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int raw = 0;
    const pid_t r = waitpid(pid_, &raw, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

void Subprocess::signal(int sig) {
  if (pid_ > 0 && status_ == -1) kill(pid_, sig);
}

bool Subprocess::wait_for_stderr(const std::string& text, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (stderr_text().find(text) != std::string::npos) return true;
    int raw = 0;
    if (status_ == -1 && waitpid(pid_, &raw, WNOHANG) == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    }
    if (status_ != -1) return stderr_text().find(text) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string Subprocess::stdout_text() const { return read_file(dir_ + "/stdout"); }
std::string Subprocess::stderr_text() const { return read_file(dir_ + "/stderr"); }

RunResult run(std::vector<std::string> argv, std::chrono::milliseconds limit) {
  Subprocess p(std::move(argv));
  const int status = p.wait(limit);
  return {status, p.stdout_text(), p.stderr_text()};
}

int shell(const std::string& command) {
  const int raw = std::system(command.c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

NetNamespace::NetNamespace(const std::string& prefix)
    : name_(prefix + "-" + std::to_string(getpid())) {
  shell("ip netns del " + name_ + " 2>/dev/null");
  ok_ = shell("ip netns add " + name_) == 0;
  if (ok_) {
    // No IPv6 autoconfiguration chatter (router solicitations, MLD) on the test links.
    exec("sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1");
    exec("ip link set lo up");
  }
}

NetNamespace::~NetNamespace() {
  if (ok_) shell("ip netns del " + name_);
}

int NetNamespace::exec(const std::string& command) const {
  return shell("ip netns exec " + name_ + " sh -c '" + command + "'");
}

bool NetNamespace::enter_this_thread() const {
  const int fd = open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool entered = setns(fd, CLONE_NEWNET) == 0;
  close(fd);
  return entered;
}

std::string spanguard_binary() { return std::string(SPANGUARD_BINARY_DIR) + "/spanguard"; }

std::string collector_binary() {
  return std::string(SPANGUARD_BINARY_DIR) + "/spanguard-collector";
}

Collector::Collector(const std::string& out)
    : process_({collector_binary(), "--listen", "tcp://127.0.0.1:0", "--out", out}) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const std::regex listening("listening on (tcp://\\S+)");
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string err = process_.stderr_text();
    if (std::regex_search(err, m, listening)) {
      url_ = m[1];
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string temp_path(const std::string& file_name) {
  struct TempDir {
    std::string path = make_temp_dir();
    ~TempDir() { std::filesystem::remove_all(path); }
  };
  static const TempDir dir;
  return dir.path + "/" + file_name;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace spanguard::testing
