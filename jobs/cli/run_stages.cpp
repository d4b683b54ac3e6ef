#include "cli/run_stages.hpp"

#include <chrono>
#include <fstream>
#include <tuple>

#include "batch/fov_tiles.hpp"
#include "batch/manifest.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "tiles/fusion.hpp"
#include "tiles/stitch.hpp"
#include "pyramid/ims_reader.hpp"
#include "pyramid/ims_writer.hpp"
#include "pyramid/ome_tiff.hpp"

namespace annamosaic::cli {

namespace {
// Rank 0 decides; everyone learns the outcome (and a message) so no rank is left in a collective.
void bcast_string(std::string& s, MPI_Comm comm) {
  unsigned long long n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  s.resize(n);
  if (n) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, 0, comm);
}
}  // namespace

StitchStageResult run_stitch_stage(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                                   const po::variables_map& vm, const std::string& out) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const double pixel_nm = vm["pixel-nm"].as<double>();
  StitchStageResult result;
  const auto records = Manifest(out + "/manifest.jsonl").load();
  std::string layout_text, error;
  if (rank == 0) {
    try {
      std::size_t missing = 0;
      for (const FovEntry& f : fovs) {
        auto it = records.find(f.id);
        if (it == records.end()) ++missing;
        else if (it->second.status != "done") ++result.failed_fovs;
      }
      if (missing) throw InputError(out + "/manifest.jsonl", std::to_string(missing) + " FoV(s) have no result yet: run --stage fovs first");
      // Register on the reconstruction; where a strip is featureless there, try the registered
      // widefield (coarser but present in every covered FoV).
      FovResultTiles tiles(out, campaign, fovs, records, pixel_nm, {"reconstruction", "widefield"});
      StitchOptions so;
      so.registration.search_um = vm["search-um"].as<double>();
      RegistrationSignal recon;
      recon.channel = 0;
      RegistrationSignal wf;
      wf.channel = 1;
      wf.scale = 4;
      so.registration.signals = {recon};
      if (vm["register-widefield"].as<bool>()) so.registration.signals.push_back(wf);
      const StitchLayout layout = compute_layout(tiles, so);
      layout_text = layout_json(tiles, layout, so);
      write_file_atomic(out + "/layout.json", layout_text + "\n");
      const auto& sol = layout.solution;
      std::size_t accepted = 0;
      for (char u : sol.link_used) accepted += u != 0;
      spdlog::info("layout: {} pairs, {} links used, {} dropped as outliers, {} component(s) ({} isolated tiles), "
                   "residual RMS {:.2f} px, max {:.2f} px (register {:.1f} s, solve {:.1f} s)",
                   layout.pairs.size(), accepted, sol.dropped, sol.components, sol.isolated_tiles, sol.rms_residual_px,
                   sol.max_residual_px, layout.register_seconds, layout.solve_seconds);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  bcast_string(error, comm);
  if (!error.empty()) throw InputError("stitch", error);
  bcast_string(layout_text, comm);
  MPI_Bcast(&result.failed_fovs, 1, MPI_INT, 0, comm);

  // Rank 0 fuses (every block once) while all ranks take part in writing the pyramid.
  FovResultTiles tiles(out, campaign, fovs, records, pixel_nm, {"reconstruction", "error map", "widefield"});
  std::vector<double> xs, ys;
  if (rank == 0) std::tie(xs, ys) = read_layout_positions(out + "/layout.json", tiles);
  unsigned long long n = xs.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  xs.resize(n);
  ys.resize(n);
  MPI_Bcast(xs.data(), static_cast<int>(n), MPI_DOUBLE, 0, comm);
  MPI_Bcast(ys.data(), static_cast<int>(n), MPI_DOUBLE, 0, comm);
  const MosaicPlan plan = plan_mosaic(tiles, xs, ys);
  const nlohmann::json j = nlohmann::json::parse(layout_text);
  MosaicInfo info;
  info.name = campaign.name;
  info.width_px = plan.width_px;
  info.height_px = plan.height_px;
  info.pixel_nm = pixel_nm;
  info.block_px = vm["block-px"].as<std::size_t>();
  info.channels = {
      {"reconstruction", "1 1 1", 65535.0, "A-net reconstruction A in [0, 1]; value = stored / 65535"},
      {"error map", "1 0 1", 16384.0, "A-net error map E (>= 0); value = stored / 16384"},
      {"widefield", "0 1 0", 1.0, "registered widefield, camera counts (ADU) resampled to the SR grid"}};
  ImsWriterOptions wo;
  wo.comm = comm;
  wo.qc = {{"fovs", std::to_string(fovs.size())}, {"failed fovs", std::to_string(result.failed_fovs)}};
  if (j.contains("summary"))
    for (const auto& [k, v] : j["summary"].items())
      if (v.is_number()) wo.qc.emplace_back("layout " + k, v.dump());
  const std::string path = out + "/mosaic.ims";
  ImsWriter writer(path, info, wo);
  writer.open();
  std::unique_ptr<Progress> progress;
  if (rank == 0) {
    progress = std::make_unique<Progress>("mosaic blocks", info.blocks_x() * info.blocks_y(), "blocks");
    FuseOptions fo;
    fo.mode = parse_blend_mode(vm["blend"].as<std::string>());
    fo.feather_px = campaign.overlap_um * 1000.0 / pixel_nm;
    fuse_mosaic(tiles, plan, {0, 1, 2}, info, writer, fo, [&] { progress->advance(); });
  }
  writer.finish();
  if (progress) progress->finish();
  if (rank == 0) {
    const ImsWriteStats& s = writer.stats();
    spdlog::info("wrote {} ({} x {} px, {} levels, {:.1f} MB, compression {:.1f}x) and its BigDataViewer XML", path,
                 info.width_px, info.height_px, s.levels, s.file_bytes / 1e6,
                 s.compressed_bytes ? static_cast<double>(s.pixel_bytes) / s.compressed_bytes : 0.0);
    if (vm["ome-tiff"].as<bool>()) {
      ImsReader reader(path);
      reader.open();
      const OmeTiffStats os = export_ome_tiff(reader, out + "/mosaic.ome.tif");
      spdlog::info("wrote {}/mosaic.ome.tif ({} levels, {:.1f} MB)", out, os.levels, os.file_bytes / 1e6);
    }
  }
  return result;
}

}  // namespace annamosaic::cli
