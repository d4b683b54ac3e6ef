#include "batch/signals.hpp"

#include <csignal>

namespace annamosaic {
namespace {
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) { g_signal = sig; }  // async-signal-safe: one store
}  // namespace

void install_stop_handlers(bool also_interrupt) {
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
