#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace pp::test {
namespace {

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// RAII for a raw file descriptor owned by the parent side of a spawn.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

std::string env_key(std::string_view entry) {
  return std::string(entry.substr(0, entry.find('=')));
}

// The parent's environment with "K=V" (set) and "-K" (unset) overrides applied.
std::vector<std::string> build_env(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    env.emplace_back(*e);
  for (const auto& o : overrides) {
    const bool unset = !o.empty() && o.front() == '-';
    if (!unset && o.find('=') == std::string::npos) {
      throw std::invalid_argument("env override must be K=V or -K: " + o);
    }
    const std::string key = unset ? o.substr(1) : env_key(o);
    std::erase_if(env, [&](const std::string& e) { return env_key(e) == key; });
    if (!unset) env.push_back(o);
  }
  return env;
}

// PATH lookup done in the parent: after fork only async-signal-safe calls are allowed.
std::string resolve_executable(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& e : env) {
    if (e.starts_with("PATH=")) path = e.substr(5);
  }
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  throw std::runtime_error("executable not found in PATH: " + name);
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Everything the child needs, prepared before fork so the child does no allocation.
struct ExecPlan {
  std::string path;
  std::vector<char*> argv;
  std::vector<char*> envp;
  int null_fd;
  int log_fd;
  int err_fd;
  long max_fd;
};

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void exec_child(const ExecPlan& plan) {
  ::setpgid(0, 0);
  // Inherited ignored signals (Paho ignores SIGPIPE) and blocked masks would leak into the child.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::dup2(plan.null_fd, 0) < 0 || ::dup2(plan.log_fd, 1) < 0 || ::dup2(plan.log_fd, 2) < 0) {
    const int err = errno;
    [[maybe_unused]] auto n = ::write(plan.err_fd, &err, sizeof err);
    ::_exit(127);
  }
  // Close-on-exec for everything else, so the error pipe stays usable until execve.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (long fd = 3; fd < plan.max_fd; ++fd)
      ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
  ::execve(plan.path.c_str(), plan.argv.data(), plan.envp.data());
  const int err = errno;
  [[maybe_unused]] auto n = ::write(plan.err_fd, &err, sizeof err);
  ::_exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sys_error("socket");
  Fd guard(fd);
  sockaddr_in addr = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw sys_error("bind");
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw sys_error("getsockname");
  }
  return ntohs(addr.sin_port);
}

ReservedPort::ReservedPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw sys_error("socket");
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const auto error = sys_error("bind");
    ::close(fd_);
    throw error;
  }
  port_ = ntohs(addr.sin_port);
}

ReservedPort::~ReservedPort() {
  ::close(fd_);
}

bool wait_for_tcp(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw sys_error("socket");
    const sockaddr_in addr = loopback(port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// --- TempDir ---------------------------------------------------------------------------------

// --- ChildProcess ----------------------------------------------------------------------------

ChildProcess::ChildProcess(std::vector<std::string> argv, std::vector<std::string> env_overrides,
                           std::string log_path)
    : log_path_(std::move(log_path)) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  std::vector<std::string> env = build_env(env_overrides);
  const std::string path = resolve_executable(argv.front(), env);

  Fd log_fd(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log_fd.get() < 0) throw sys_error("open " + log_path_);
  Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) throw sys_error("open /dev/null");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw sys_error("pipe2");
  Fd err_read(pipe_fds[0]);
  Fd err_write(pipe_fds[1]);

  const ExecPlan plan{path,
                      c_strings(argv),
                      c_strings(env),
                      null_fd.get(),
                      log_fd.get(),
                      err_write.get(),
                      std::max(::sysconf(_SC_OPEN_MAX), 1024L)};
  pid_ = ::fork();
  if (pid_ < 0) throw sys_error("fork");
  if (pid_ == 0) exec_child(plan);

  ::setpgid(pid_, pid_);  // also done by the child; whoever runs first wins the race
  err_write.reset();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_read.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof exec_errno) {  // EOF (n == 0) means execve succeeded
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    errno = exec_errno;
    throw sys_error("exec " + path);
  }
}

ChildProcess::~ChildProcess() {
  stop();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exit_code_(other.exit_code_),
      log_path_(std::move(other.log_path_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    exit_code_ = other.exit_code_;
    log_path_ = std::move(other.log_path_);
  }
  return *this;
}

void ChildProcess::signal_group(int sig) const {
  if (::kill(-pid_, sig) != 0 && errno == ESRCH) ::kill(pid_, sig);
}

// Reaps the process if it has exited. The exit is first observed with WNOWAIT: while the zombie
// is unreaped its pid cannot be reused, so killing leftover group members (e.g. a backgrounded
// grandchild) cannot hit an unrelated process.
bool ChildProcess::try_reap() {
  if (exit_code_) return true;
  if (pid_ <= 0) return false;
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {  // ECHILD: someone else reaped it; nothing more can be learned
    exit_code_ = -1;
    return true;
  }
  if (info.si_pid == 0) return false;
  signal_group(SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_code_ = decode_status(status);
  return true;
}

bool ChildProcess::running() {
  return pid_ > 0 && !try_reap();
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (try_reap()) return exit_code_;
    if (pid_ <= 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

void ChildProcess::kill9() {
  if (pid_ <= 0 || try_reap()) return;
  signal_group(SIGKILL);
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 &&
         errno == EINTR) {
  }
  try_reap();
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_code_.value_or(-1);
  if (try_reap()) return *exit_code_;
  signal_group(SIGTERM);
  if (auto code = wait_exit(grace)) return *code;
  kill9();
  return exit_code_.value_or(-1);
}

namespace {
std::optional<long> status_kib(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field)) return std::strtol(line.c_str() + field.size(), nullptr, 10);
  }
  return std::nullopt;
}
}  // namespace

std::optional<long> vm_hwm_kib(pid_t pid) {
  return status_kib(pid, "VmHWM:");
}

std::optional<long> vm_rss_kib(pid_t pid) {
  return status_kib(pid, "VmRSS:");
}

}  // namespace pp::test
