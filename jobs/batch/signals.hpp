#pragma once
// SIGUSR1 (SLURM's pre-emption warning, --signal=B:USR1@N) and SIGTERM (time limit, scancel)
// ask the run to stop: no new FoVs are started, the ones in flight finish and are recorded, the
// manifest is flushed, and the program exits with kExitRequeue, which slurm/*.sbatch turns into
// `scontrol requeue`. A second signal is handled the same way (the first one already stops).
namespace annamosaic {

constexpr int kExitRequeue = 75;  // EX_TEMPFAIL: "try again later" - resumable, nothing lost

// also_interrupt: SIGINT (Ctrl-C) too, once (a second Ctrl-C kills as usual); for interactive
// commands such as `train`.
void install_stop_handlers(bool also_interrupt = false);
bool stop_requested();
int stop_signal();  // the signal number received, 0 if none

}  // namespace annamosaic
