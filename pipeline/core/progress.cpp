#include "core/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/log.hpp"

namespace annamosaic {
namespace {
std::string human_count(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}
// A rate below 10 per second with two significant digits: "0 FoVs/s" said nothing.
std::string human_rate(double v) {
  if (v >= 10 || v <= 0) return human_count(v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}
}  // namespace

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "unknown";
  if (seconds >= 1000.0 * 86400) return "over 1000 d";  // a pace near 0 (and lround's range)
  const long t = std::lround(seconds);
  char buf[48];
  if (t < 60) std::snprintf(buf, sizeof buf, "%ld s", t);
  else if (t < 3600) std::snprintf(buf, sizeof buf, "%ld min %ld s", t / 60, t % 60);
  else if (t < 48 * 3600) std::snprintf(buf, sizeof buf, "%ld h %ld min", t / 3600, t / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%ld d %ld h", t / 86400, t / 3600 % 24);
  return buf;
}

Progress::Progress(std::string label, std::uint64_t total, std::string unit, double plain_interval_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()),
      tty_(::isatty(STDERR_FILENO) == 1),
      enabled_(logging_verbosity() >= 0) {
  interval_ns_ = tty_ ? 200'000'000LL : static_cast<std::int64_t>(plain_interval_s * 1e9);
  next_print_ns_ = interval_ns_;
}

Progress::~Progress() {
  if (tty_ && enabled_ && !finished_) std::fputc('\n', stderr);
}

void Progress::advance(std::uint64_t n) {
  // The first items hold the start-up (a model loaded on each rank, caches filled): the ETA is
  // paced by the items after that first wave.
  const std::uint64_t before = done_.fetch_add(n, std::memory_order_relaxed);
  if (wave_open_.load(std::memory_order_relaxed)) {
    const std::int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
    std::int64_t unset = -1;
    first_ns_.compare_exchange_strong(unset, now_ns);
    if (now_ns <= first_ns_.load() + first_ns_.load() / 4) {
      wave_done_.store(before + n, std::memory_order_relaxed);
      wave_ns_.store(now_ns, std::memory_order_relaxed);
    } else {
      wave_open_.store(false, std::memory_order_relaxed);
    }
  }
  maybe_print(false);
}

void Progress::set_detail(std::string detail) {
  std::lock_guard<std::mutex> lock(print_mutex_);
  detail_ = std::move(detail);
}

void Progress::finish() {
  if (finished_) return;
  maybe_print(true);
  finished_ = true;
  if (tty_ && enabled_) std::fputc('\n', stderr);
}

std::string Progress::format_line(const std::string& label, std::uint64_t done, std::uint64_t total,
                                  const std::string& unit, double elapsed_s, double eta_rate) {
  const double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  std::string s = label + ": " + human_count(static_cast<double>(done));
  if (total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.1f%%)", 100.0 * done / total);
    s += "/" + human_count(static_cast<double>(total)) + " " + unit + pct;
  } else {
    s += " " + unit;
  }
  s += ", " + human_rate(rate) + " " + unit + "/s";
  if (total > 0) {
    const double pace = eta_rate > 0 ? eta_rate : rate;
    const double eta = pace > 0 ? (total - std::min(done, total)) / pace : NAN;
    s += done >= total ? ", done in " + duration_text(elapsed_s) : ", ETA " + duration_text(eta);
  }
  return s;
}

void Progress::maybe_print(bool force) {
  if (!enabled_) return;
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - start_).count();
  std::int64_t due = next_print_ns_.load(std::memory_order_relaxed);
  if (!force && now_ns < due) return;
  if (!force && !next_print_ns_.compare_exchange_strong(due, now_ns + interval_ns_)) return;
  std::lock_guard<std::mutex> lock(print_mutex_);
  const std::uint64_t done = done_.load();
  const std::uint64_t wave_done = wave_done_.load();
  const std::int64_t wave_ns = wave_ns_.load();
  double eta_rate = 0;
  if (first_ns_.load() >= 0 && done >= wave_done + 2 && now_ns > wave_ns) eta_rate = (done - wave_done) / ((now_ns - wave_ns) / 1e9);
  const std::uint64_t total = total_.load();
  std::string line = format_line(label_, done, total, unit_, now_ns / 1e9, eta_rate);
  if (!detail_.empty()) line += " | " + detail_;
  // finish() right after the last advance printed the same count: one line, not two.
  if (force && done == last_done_ && done == total && !tty_) return;
  last_done_ = done;
  if (tty_) std::fprintf(stderr, "\r\033[K%s", line.c_str());
  else spdlog::info("{}", line);
  std::fflush(stderr);
}

}  // namespace annamosaic
