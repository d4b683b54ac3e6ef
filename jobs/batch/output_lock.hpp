#pragma once
// One run per output folder. Two runs writing the same folder would compute every FoV twice and
// could mix results made with different settings; a resubmitted job whose predecessor still
// runs, or two configs with the same output, must be refused instead.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace annamosaic {

// An advisory lock (fcntl, which NFS supports) on OUT/.annamosaic.lock, held until destruction;
// the kernel drops it when the process dies, even by kill -9, so a killed run never blocks the
// next one. Throws InputError naming the holder (pid, host, start time) when another process
// holds it. Where the file system has no locks, logs a warning and goes on unlocked.
class OutputLock {
 public:
  // `writer` and `option` name who writes the folder and how to choose another, in the message
  // (`train` locks its checkpoint folder: "training", "-o (or --checkpoint-dir)").
  explicit OutputLock(const std::string& out_dir, const std::string& writer = "run",
                      const std::string& option = "--output");
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  // False where the file system has no locks (the run went on with a warning): then nobody can
  // tell whether another run writes here, and its temporary files must be left alone.
  bool locked() const { return locked_; }

 private:
  int fd_ = -1;
  bool locked_ = false;
};

// "another annamosaic WRITER is writing this ... (WHO): wait for it to end, or choose another
// OPTION": the refusal OutputLock throws, for callers that ask output_lock_holder first.
std::string folder_busy_text(const std::string& writer, const std::string& option, const std::string& who);

// "pid 12 on node7" for this process: how output_lock_holder's answer begins when it holds the lock.
std::string this_process_as_holder();

// "pid 12 on node7 since 2026-12-04 01:20:00" when a process holds OUT's run lock, else nothing.
// Asks the kernel (fcntl F_GETLK), so a killed run's lock file is not mistaken for a live run.
// When the lock cannot be queried (a file system without locks), `error` (if given) says why.
std::optional<std::string> output_lock_holder(const std::string& out_dir, std::string* error = nullptr);

// Removes the temporary files ("NAME.tmp.PID", see AtomicFile) in out_dir, out_dir/fov and
// out_dir/qc: under the OutputLock nobody else writes there, so they are leftovers of a killed
// run (a killed mosaic writer leaves one as large as the mosaic). Returns (files, bytes).
std::pair<std::size_t, std::uintmax_t> remove_stale_temporaries(const std::string& out_dir);

}  // namespace annamosaic
