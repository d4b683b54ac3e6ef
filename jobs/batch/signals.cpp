#include "batch/signals.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace annamosaic {
namespace {
volatile std::sig_atomic_t g_signal = 0;
const char* g_on_interrupt = nullptr;  // what a first Ctrl-C is answered with (a literal: safe to read)
const char* g_on_terminate = nullptr;  // ... and a first SIGTERM
extern "C" void on_stop_signal(int sig) {
  // Async-signal-safe: one store, and write(2) for Ctrl-C, whose user waits at the terminal for a
  // sign that it was heard (probe77: nothing said until the FoVs in flight were done).
  const char* text = sig == SIGINT ? g_on_interrupt : sig == SIGTERM ? g_on_terminate : nullptr;
  if (text && g_signal == 0) {
    const int saved_errno = errno;  // the interrupted code may be about to read it
    const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
    (void)ignored;
    errno = saved_errno;
  }
  g_signal = sig;
}
}  // namespace

void install_stop_handlers(bool also_interrupt, const char* on_interrupt) {
  g_on_interrupt = on_interrupt;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A dropped ssh session (SIGHUP) stops as cleanly; under nohup it stays ignored.
  struct sigaction hup {};
  if (sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN) sigaction(SIGHUP, &sa, nullptr);
  if (also_interrupt) {
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(SIGINT, &sa, nullptr);
  }
}
void set_terminate_text(const char* on_terminate) { g_on_terminate = on_terminate; }
bool stop_requested() { return g_signal != 0; }
int stop_signal() { return g_signal; }

std::string signal_text(int sig) {
  const std::string number = "signal " + std::to_string(sig);
  switch (sig) {
    case SIGUSR1: return "SIGUSR1 (" + number + ")";
    case SIGTERM: return "SIGTERM (" + number + ")";
    case SIGHUP: return "SIGHUP (" + number + ")";
    case SIGINT: return "Ctrl-C (SIGINT, " + number + ")";
    default: return number;
  }
}

std::string stopped_by_text() {
  const int sig = g_signal;
  return sig ? "stopped by " + signal_text(sig) : "stopped (another rank was signalled)";
}

}  // namespace annamosaic
