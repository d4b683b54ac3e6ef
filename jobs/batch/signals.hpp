#pragma once
// SIGUSR1 (the time limit is near: --signal=B:USR1@N, forwarded by the batch script) and SIGTERM
// (scancel, pre-emption, the limit itself) ask the run to stop: no new FoVs are started, the ones
// in flight finish and are recorded, the manifest is flushed, and the program exits with
// kExitRequeue. slurm/annamosaic-grid.sbatch requeues a FoV element that stopped so after USR1
// (not after TERM: a cancelled element stays cancelled). SIGHUP (a closed terminal or ssh session,
// unless nohup ignores it) is as TERM. A second signal is handled the same way.
#include <string>

namespace annamosaic {

constexpr int kExitRequeue = 75;  // EX_TEMPFAIL: "try again later" - resumable, nothing lost

// also_interrupt: SIGINT (Ctrl-C) too, once (a second Ctrl-C kills as usual); for interactive
// commands such as `train`. on_interrupt: a string literal written to stderr when the first
// Ctrl-C comes, saying what stopping does (at once, from the handler).
void install_stop_handlers(bool also_interrupt = false, const char* on_interrupt = nullptr);
// A string literal written to stderr when the first SIGTERM comes (null: none).
void set_terminate_text(const char* on_terminate);
bool stop_requested();
int stop_signal();  // the signal number received, 0 if none
// "SIGUSR1 (signal 10)": a stop signal as users know it from scancel --signal and kill -l.
std::string signal_text(int sig);
// "stopped by SIGUSR1 (signal 10)", or "stopped (another rank was signalled)" when none came here.
std::string stopped_by_text();

}  // namespace annamosaic
