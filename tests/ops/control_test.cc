// The control socket: request parsing and replies, and the server over a real Unix socket (its
// permissions, a stale socket replaced, a live one refused).
#include "spanguard/ops/control.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

#include "spanguard/core/error.h"

namespace spanguard::ops {
namespace {

// Echoes the command and its arguments; "fail" answers NOK, "throw" throws.
ControlReply echo(const std::string& command, const std::vector<std::string>& args) {
  if (command == "fail") return control_error("asked to fail");
  if (command == "throw") throw core::RuntimeError("it broke");
  std::string json = "[\"" + command + "\"";
  for (const std::string& a : args) json += ",\"" + a + "\"";
  return {true, json + "]"};
}

TEST(ControlRequest, JsonRequestsAndPlainLinesAreAnswered) {
  EXPECT_EQ(answer_control_request(R"({"command":"flows","arguments":["port","443"]})", echo),
            R"({"return":"OK","message":["flows","port","443"]})");
  EXPECT_EQ(answer_control_request(R"({"command":"stats"})", echo),
            R"({"return":"OK","message":["stats"]})");
  EXPECT_EQ(answer_control_request("flows ip 198.51.100.7\r", echo),
            R"({"return":"OK","message":["flows","ip","198.51.100.7"]})");
}

TEST(ControlRequest, BadRequestsGetAReasonNotACrash) {
  EXPECT_EQ(answer_control_request("{not json", echo),
            R"({"return":"NOK","message":"the request is not a JSON object"})");
  EXPECT_EQ(answer_control_request(R"({"arguments":[]})", echo),
            R"({"return":"NOK","message":"the request has no \"command\" string"})");
  EXPECT_EQ(answer_control_request(R"({"command":"x","arguments":[1]})", echo),
            R"({"return":"NOK","message":"every argument must be a string"})");
  EXPECT_EQ(answer_control_request("", echo), R"({"return":"NOK","message":"empty request"})");
  EXPECT_EQ(answer_control_request("fail", echo), R"({"return":"NOK","message":"asked to fail"})");
  EXPECT_EQ(answer_control_request("throw", echo),
            R"({"return":"NOK","message":"throw: it broke"})");
}

std::string socket_path(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "sgctl-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

TEST(ControlServer, AnswersOverTheSocketWhichOnlyItsGroupMayUse) {
  const std::string path = socket_path("a.sock");
  {
    ControlServer server({.socket = path, .group = ""}, echo);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(control_request(path, "flows", {"port", "22"}, 2000),
              R"({"return":"OK","message":["flows","port","22"]})");
    // A second request on a fresh connection is served as well.
    EXPECT_EQ(control_request(path, "fail", {}, 2000),
              R"({"return":"NOK","message":"asked to fail"})");
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "the socket is removed at shutdown";
  EXPECT_THROW(control_request(path, "stats", {}, 500), core::RuntimeError);
}

TEST(ControlServer, ReplacesAStaleSocketButRefusesALiveOne) {
  const std::string path = socket_path("b.sock");
  {
    // A socket file nobody listens on, as a crashed run leaves it.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ControlServer first({.socket = path, .group = ""}, echo);
  try {
    ControlServer second({.socket = path, .group = ""}, echo);
    FAIL() << "a second sensor took over a live control socket";
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("another process is listening"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(control_request(path, "version", {}, 2000), R"({"return":"OK","message":["version"]})");
}

TEST(ControlServer, ConfigurationErrorsNameTheKey) {
  try {
    ControlServer server({.socket = socket_path("c.sock"), .group = "sgnosuchgroup"}, echo);
    FAIL() << "an unknown group was accepted";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("control.group"), std::string::npos) << e.what();
  }
  try {
    ControlServer server({.socket = socket_path(std::string(200, 'x')), .group = ""}, echo);
    FAIL() << "an over-long path was accepted";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("control.socket"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spanguard::ops
