#pragma once
// Progress of long work: count, rate and ETA. On a terminal one line is redrawn in place
// (at most 5 times a second); otherwise (logs, SLURM output) a plain line every
// `plain_interval_s` seconds. advance() is thread-safe and cheap (one atomic add); printing
// happens from whichever thread crosses the interval. Silent when quiet (verbosity < 0).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace annamosaic {

// A duration with its units, so that it cannot be misread ("1 min 47 s", "3 h 29 min", not
// "01:47" beside "3:29:48"); seconds are dropped from an hour on, minutes from two days on.
// "unknown" for a negative or non-finite value.
std::string duration_text(double seconds);

class Progress {
 public:
  Progress(std::string label, std::uint64_t total, std::string unit, double plain_interval_s = 10.0);
  ~Progress();
  void advance(std::uint64_t n = 1);
  void finish();  // prints the final line (idempotent)
  // More work found on the way (e.g. pairs a second registration signal retries); thread-safe.
  void add_to_total(std::uint64_t n) { total_.fetch_add(n); }
  std::uint64_t done() const { return done_.load(); }
  // Extra text appended to every line (e.g. a per-stage breakdown); thread-safe.
  void set_detail(std::string detail);

  // Formats "label: done/total unit (pct%), rate unit/s, ETA 2 min 15 s" (exposed for tests); the ETA
  // from eta_rate (items/s) where it is > 0, else from the mean rate.
  static std::string format_line(const std::string& label, std::uint64_t done, std::uint64_t total,
                                 const std::string& unit, double elapsed_s, double eta_rate = 0);

 private:
  void maybe_print(bool force);
  std::string label_, unit_;
  std::atomic<std::uint64_t> total_;
  std::atomic<std::uint64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::atomic<std::int64_t> next_print_ns_{0};
  std::atomic<std::int64_t> first_ns_{-1};  // when the first item was done
  // The first wave (items done by 1.25 x first_ns_: every worker's first carries the start-up)
  std::atomic<std::uint64_t> wave_done_{0};
  std::atomic<std::int64_t> wave_ns_{0};
  std::atomic<bool> wave_open_{true};
  std::uint64_t last_done_ = UINT64_MAX;    // the count last printed
  std::int64_t interval_ns_;
  bool tty_, enabled_, finished_ = false;
  std::mutex print_mutex_;
  std::string detail_;
};

}  // namespace annamosaic
