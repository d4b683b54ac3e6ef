#include "batch/runner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "batch/dispatcher.hpp"
#include "batch/input_stamp.hpp"
#include "batch/manifest.hpp"
#include "batch/repeated_warnings.hpp"
#include "batch/signals.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/progress.hpp"
#include "core/text_list.hpp"

namespace annamosaic {
namespace {
using Clock = std::chrono::steady_clock;

// How a done FoV's inputs compare with the files its plan names now: `change` says why they
// differ ("" = they do not); a missing input keeps the result (raw data archived after the run);
// a widefield that appeared since is a change (the FoV was reconstructed without one).
// `refreshed`: the stamps with new times for the same bytes (a copy), null if none.
struct InputsNow {
  std::string change;
  nlohmann::json refreshed;
};
struct InputCheck {
  std::size_t read_content = 0, gone = 0;  // totals over the FoVs checked, for the log
  bool has_widefields = true;  // the campaign names widefields at all (campaign.ini's widefield pattern)
  InputsNow operator()(const nlohmann::json& stamps, const FovEntry& f, const std::string& campaign_dir,
                       bool use_widefield) {
    InputsNow now;
    auto check = [&](const char* key, const std::string& path) {
      const InputComparison r = compare_input(stamps[key], path, campaign_dir);
      read_content += r.read_content;
      gone += r.gone;
      if (!r.refreshed.is_null()) {
        if (now.refreshed.is_null()) now.refreshed = stamps;
        now.refreshed[key] = r.refreshed;
      }
      now.change = r.change;
      return r.change.empty();
    };
    if (stamps.contains("table") && !check("table", f.table_path)) return now;
    if (!use_widefield) return now;
    if (stamps.contains("widefield")) {
      // No widefield for this FoV now: a file gone keeps the result (as a table gone does), but
      // a campaign.ini that says `widefield = none` now asks for results without one.
      if (f.widefield_path.empty() && !has_widefields) now.change = "the campaign has no widefields now (the result was made with one)";
      else if (f.widefield_path.empty()) ++gone;
      else check("widefield", f.widefield_path);
    } else if (!f.widefield_path.empty()) {
      now.change = f.widefield_path + " is there now (the result was made without a widefield)";
    }
    return now;
  }
};

// Which FoVs are already done and still hold: the inputs they were made from are unchanged (a
// table or widefield fixed since is redone) and the result file matches its recorded checksum.
// still_absent: FoVs recorded as not acquired whose files are still not there: not redone (a run
// every few minutes while the microscope acquires rewrote each one's empty tile and manifest line,
// and remade the mosaic, each time; a probe's manifest grew to 124 lines for 25 FoVs).
std::set<int> verified_done(Manifest& m, const std::string& out_dir, const CampaignInfo& campaign,
                            const std::vector<FovEntry>& fovs, bool use_widefield, std::set<int>* still_absent) {
  std::map<int, const FovEntry*> plan;
  for (const FovEntry& f : fovs) plan[f.id] = &f;
  InputCheck inputs;
  inputs.has_widefields = campaign.has_widefields();
  std::set<int> ok;
  std::vector<int> not_planned;
  // The inputs first (file times; content only where a time changed), then the results' bytes,
  // in parallel: a resume of 10,000 done FoVs reads ~300 GB of results, which one thread on a
  // parallel file system took most of a pre-empted job's remaining minutes over (probe47).
  struct Candidate {
    int id;
    const ManifestRecord* rec;
    InputsNow now;
    std::string warning;  // why it is redone; "" = verified
    bool checked = false;
  };
  const std::map<int, ManifestRecord> records = m.load();
  std::vector<Candidate> candidates;
  for (const auto& [id, rec] : records) {
    // Another campaign's records (an output folder reused): neither counted nor touched.
    if (!plan.count(id)) {
      not_planned.push_back(id);
      continue;
    }
    if (rec.not_acquired() && !rec.file.empty()) {
      const FovEntry& f = *plan[id];
      std::error_code ec;
      // Its empty tile as recorded, by its size (a checksum each, read one by one, cost a 10,000-FoV
      // campaign just begun a read of every such file at every run).
      bool intact = false;
      if (const auto bytes = std::filesystem::file_size(out_dir + "/" + rec.file, ec); !ec)
        intact = !rec.extra.contains("bytes") || rec.extra["bytes"] == bytes;
      if (intact && still_not_acquired(f, rec.extra.value("widefield_present", false))) still_absent->insert(id);
      continue;
    }
    if (rec.status != "done" || rec.file.empty()) continue;
    InputsNow now;
    if (const auto it = plan.find(id); rec.extra.contains("inputs")) {
      now = inputs(rec.extra["inputs"], *it->second, campaign.dir, use_widefield);
      if (!now.change.empty()) {
        spdlog::warn("FoV {}: {}; redoing it", id, now.change);
        continue;
      }
    }
    candidates.push_back({id, &rec, std::move(now), {}, false});
  }
  if (candidates.size() >= 100)
    spdlog::info("verifying the {} earlier results against their checksums before handing out FoVs", candidates.size());
  tbb::parallel_for(std::size_t{0}, candidates.size(), [&](std::size_t k) {
    Candidate& c = candidates[k];
    if (stop_requested()) return;  // not verified: nothing is handed out after a stop anyway
    const std::string path = out_dir + "/" + c.rec->file;
    c.checked = true;
    try {
      if (file_checksum_as(path, c.rec->checksum) != c.rec->checksum)
        c.warning = fmt::format("FoV {}: {} does not match its recorded checksum; redoing it", c.id, path);
    } catch (const std::exception& e) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec))  // there, but unreadable: not "missing"
        c.warning = fmt::format("FoV {}: {} cannot be read ({}); redoing it", c.id, path, error_text(e));
      else
        c.warning = fmt::format("FoV {}: {} is missing; redoing it", c.id, path);
    }
  });
  for (Candidate& c : candidates) {
    if (!c.checked) continue;
    if (!c.warning.empty()) {
      spdlog::warn("{}", c.warning);
      continue;
    }
    ok.insert(c.id);
    if (!c.now.refreshed.is_null()) {  // read once: the next rerun compares the new times
      ManifestRecord r = *c.rec;
      r.extra["inputs"] = c.now.refreshed;
      try {
        m.append(r);
      } catch (const std::exception& e) {  // only an optimisation: the next rerun reads them again
        spdlog::warn("{}", e.what());
      }
    }
  }
  if (!not_planned.empty())
    spdlog::warn("{}/manifest.jsonl records {} FoV id(s) this campaign does not have ({}): FoVs taken out of its "
                 "positions file (their results are kept, out of the mosaic, used again if they come back), or another "
                 "campaign's output folder (then use another --output for a campaign of its own)? Those records are "
                 "left as they are",
                 out_dir, not_planned.size(), first_items(not_planned, 10));
  if (inputs.read_content > 0)
    spdlog::info("{} input files read to compare their content with the FoV results' records (their modification "
                 "times changed: copied?)", inputs.read_content);
  if (inputs.gone > 0)
    spdlog::info("{} input files of done FoVs are no longer there; their results are kept", inputs.gone);
  return ok;
}
}  // namespace

RunSummary run_fovs(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                    const RunOptions& opt, const ReconstructFn& reconstruct) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto t_start = Clock::now();
  RunSummary summary;
  summary.total = fovs.size();
  Manifest manifest(opt.out_dir + "/manifest.jsonl");
  std::filesystem::create_directories(opt.out_dir + "/fov");

  std::vector<std::size_t> order;
  std::unique_ptr<Progress> progress;
  std::mutex events_mutex;
  std::string events_path = opt.out_dir + "/events.jsonl";
  // One line of the event log, stamped with seconds since this invocation started (rank 0).
  bool events_tail_checked = false;
  const auto log_event = [&](nlohmann::json ev) {
    ev["t_s"] = std::chrono::duration<double>(Clock::now() - t_start).count();
    std::lock_guard<std::mutex> lock(events_mutex);
    if (std::FILE* f = std::fopen(events_path.c_str(), "a+")) {
      // A record an earlier run left cut short (a full disk, a kill) is ended first, so this
      // invocation's first record is a line of its own (probe76: it was glued onto the stub).
      if (!std::exchange(events_tail_checked, true) && std::fseek(f, -1, SEEK_END) == 0) {
        const int last = std::fgetc(f);
        std::fseek(f, 0, SEEK_END);  // (a read and a write of one stream are parted by a seek)
        if (last != '\n' && last != EOF) std::fputc('\n', f);
      }
      std::fputs((json_text(ev) + "\n").c_str(), f);
      std::fclose(f);
    }
  };
  std::atomic<std::size_t> done{0}, failed{0}, not_acquired{0};
  if (rank == 0) {
    std::set<int> absent;
    const std::set<int> skip = verified_done(manifest, opt.out_dir, campaign, fovs, opt.fov.use_widefield, &absent);
    for (std::size_t i : largest_first(fovs))
      if (!skip.count(fovs[i].id) && !absent.count(fovs[i].id)) order.push_back(i);
    if (opt.max_fovs >= 0 && order.size() > static_cast<std::size_t>(opt.max_fovs)) {
      summary.held_back = order.size() - static_cast<std::size_t>(opt.max_fovs);
      order.resize(opt.max_fovs);
    }
    summary.skipped = skip.size();  // verified earlier results (FoVs held back by --max-fovs are not counted)
    summary.still_not_acquired = absent.size();
    spdlog::info("{} FoVs: {} already done and verified, {}{} to process on {} rank(s)", fovs.size(), skip.size(),
                 absent.empty() ? std::string() : fmt::format("{} still not acquired, ", absent.size()), order.size(), size);
    progress = std::make_unique<Progress>("FoVs", order.size(), "FoVs");
    // Marks where this invocation's FoV records begin (`annamosaic status` takes its pace from them).
    log_event({{"event", "start"}, {"ranks", size}, {"to_process", order.size()}, {"already_done", skip.size()}});
  }

  // Rank 0: every completion record goes to the manifest (one writer) and the event log.
  RepeatedWarnings repeated;
  auto on_record = [&](const std::string& line) {
    const auto j = nlohmann::json::parse(line);
    const ManifestRecord r = record_from_json(j);
    manifest.append(r);
    if (r.status == "done") ++done;
    else {
      ++failed;
      if (r.not_acquired()) ++not_acquired;  // listed once, as the run began
      else spdlog::warn("FoV {} failed: {}", r.id, r.reason);
      std::lock_guard<std::mutex> lock(events_mutex);
      summary.failed_ids.push_back(r.id);
    }
    if (r.extra.contains("warnings"))
      for (const auto& w : r.extra["warnings"]) spdlog::warn("FoV {}: {}", r.id, repeated.line(r.id, w.get<std::string>()));
    nlohmann::json ev = {{"event", "fov"}};
    ev.update(j);
    log_event(std::move(ev));
    const nlohmann::json tm = r.extra.value("timings", nlohmann::json::object());
    {
      std::lock_guard<std::mutex> lock(events_mutex);
      for (const auto& [k, v] : tm.items())
        if (v.is_number()) summary.stage_seconds[k.size() > 2 ? k.substr(0, k.size() - 2) : k] += v.get<double>();
    }
    if (progress) {
      const std::size_t absent = not_acquired.load();
      progress->set_detail(fmt::format("done {} failed {}{} | last FoV {}: read {:.2f}s render {:.2f}s register {:.2f}s infer {:.2f}s write {:.2f}s",
                                       done.load(), failed.load() - absent,
                                       absent ? fmt::format(" not acquired {}", absent) : std::string(), r.id,
                                       tm.value("read_s", 0.0), tm.value("render_s", 0.0),
                                       tm.value("register_s", 0.0), tm.value("infer_s", 0.0), tm.value("write_s", 0.0)));
      progress->advance();
    }
  };

  DistributedQueue queue(comm, order, on_record);
  std::mutex pending_mutex;
  std::vector<std::string> pending;  // records of this rank not yet sent to rank 0
  auto take_pending = [&] {
    std::lock_guard<std::mutex> lock(pending_mutex);
    std::string all;
    for (auto& p : pending) all += (all.empty() ? "" : "\n") + p;
    pending.clear();
    return all;
  };
  std::atomic<double> busy{0.0};
  std::size_t mine = 0;
  auto add_busy = [&](Clock::time_point t0) {
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    double cur = busy.load();
    while (!busy.compare_exchange_weak(cur, cur + dt)) {
    }
  };

  // Records are sent as newline-separated batches; rank 0 splits them.
  // A rank whose A-net keeps failing (a lost or broken GPU) stops taking FoVs rather than turning
  // every remaining one into an empty tile; the other ranks go on, and a rerun redoes the rest.
  std::atomic<int> anet_failures_in_a_row{0};
  std::atomic<bool> gave_up{false}, write_failed{false};
  auto next_item = [&]() -> std::optional<std::size_t> {
    if (stop_requested()) queue.request_stop();
    if (gave_up || write_failed) return std::nullopt;
    return queue.next(take_pending());
  };
  try {
    tbb::parallel_pipeline(
        opt.in_flight,
        tbb::make_filter<void, std::shared_ptr<FovWork>>(tbb::filter_mode::serial_in_order,
                                                         [&](tbb::flow_control& fc) -> std::shared_ptr<FovWork> {
                                                           const auto item = next_item();
                                                           if (!item) {
                                                             fc.stop();
                                                             return nullptr;
                                                           }
                                                           ++mine;
                                                           auto w = std::make_shared<FovWork>();
                                                           w->entry = fovs[*item];
                                                           return w;
                                                         }) &
            tbb::make_filter<std::shared_ptr<FovWork>, std::shared_ptr<FovWork>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<FovWork> w) {
                  const auto t0 = Clock::now();
                  auto prepared = prepare_fov(w->entry, campaign, opt.fov);
                  begin_reconstruction(*prepared, reconstruct, campaign.switch_id, opt.fov);
                  add_busy(t0);
                  return std::shared_ptr<FovWork>(std::move(prepared));
                }) &
            tbb::make_filter<std::shared_ptr<FovWork>, std::shared_ptr<FovWork>>(
                tbb::filter_mode::serial_out_of_order,
                [&](std::shared_ptr<FovWork> w) {
                  const auto t0 = Clock::now();
                  run_reconstruction_networks(*w);
                  if (!w->anet_failed) {
                    if (w->job) anet_failures_in_a_row = 0;
                  } else if (++anet_failures_in_a_row >= kAnetFailuresToGiveUp && !gave_up.exchange(true)) {
                    spdlog::error("rank {}: the A-net failed on {} FoVs in a row (last: FoV {}: {}); this rank takes no "
                                  "more FoVs ({})",
                                  rank, kAnetFailuresToGiveUp, w->entry.id, w->reason,
                                  w->anet_out_of_memory ? "out of memory" : "the device may be lost");
                  }
                  add_busy(t0);
                  return w;
                }) &
            tbb::make_filter<std::shared_ptr<FovWork>, void>(tbb::filter_mode::parallel, [&](std::shared_ptr<FovWork> w) {
              const auto t0 = Clock::now();
              end_reconstruction(*w);
              std::string rec = finish_fov(*w, opt.out_dir, rank);
              if (!w->write_error.empty() && !write_failed.exchange(true))
                spdlog::error("rank {}: cannot write the result of FoV {} ({}): this rank takes no more FoVs", rank,
                              w->entry.id, w->write_error);
              add_busy(t0);
              std::lock_guard<std::mutex> lock(pending_mutex);
              pending.push_back(std::move(rec));
            }));
  } catch (const std::exception& e) {
    // With several ranks the queue's destructor aborts them all (the others would wait for this
    // one forever), before main could say why: said here, and with which exit status.
    if (size > 1)
      spdlog::error("rank {}: {}: aborting all ranks (the FoVs recorded so far are kept; rerun to resume)", rank, error_text(e));
    queue.set_abort_status(exit_status_of(e));
    throw;
  }
  const double finish_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  queue.finish(take_pending());
  if (progress) progress->finish();
  // Rank 0 could not record a FoV (the manifest's disk full, say): the queue handed out no more
  // FoVs, and this rank counts as one whose results could not be written.
  if (const std::string e = queue.record_error(); !e.empty()) {
    spdlog::error("rank 0: cannot record FoV results: {}: no more FoVs were handed out", e);
    write_failed = true;
  }
  for (const std::string& line : repeated.summary()) spdlog::warn("{}", line);

  // Load balance: per-rank FoV count, busy time, finish time.
  double mine_d[4] = {static_cast<double>(mine), busy.load(), finish_s, peak_rss_mb()};
  std::vector<double> all(static_cast<std::size_t>(4 * size));
  MPI_Gather(mine_d, 4, MPI_DOUBLE, all.data(), 4, MPI_DOUBLE, 0, comm);
  int stopped_local = stop_requested() ? 1 : 0, stopped_any = 0;
  MPI_Allreduce(&stopped_local, &stopped_any, 1, MPI_INT, MPI_MAX, comm);
  summary.stopped = stopped_any != 0;
  // The ranks where a flag is set, on every rank (collective).
  const auto ranks_where = [&](bool mine_set) {
    const int flag = mine_set ? 1 : 0;
    std::vector<int> flags(static_cast<std::size_t>(size)), ranks;
    MPI_Allgather(&flag, 1, MPI_INT, flags.data(), 1, MPI_INT, comm);
    for (int r = 0; r < size; ++r)
      if (flags[static_cast<std::size_t>(r)]) ranks.push_back(r);
    return ranks;
  };
  summary.gave_up_ranks = ranks_where(gave_up);
  summary.write_failed_ranks = ranks_where(write_failed);
  if (rank == 0) {
    for (int r = 0; r < size; ++r)
      summary.ranks.push_back({static_cast<std::size_t>(all[4 * r]), all[4 * r + 1], all[4 * r + 2], all[4 * r + 3]});
    summary.done = done;
    summary.failed = failed;
    summary.not_acquired = not_acquired;
    summary.unprocessed = order.size() - std::min(order.size(), done + failed);
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return summary;
}

}  // namespace annamosaic
