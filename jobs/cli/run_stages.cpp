#include "cli/run_stages.hpp"

#include <chrono>
#include <fstream>

#include "batch/fov_tiles.hpp"
#include "batch/manifest.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "mosaic/fusion.hpp"
#include "mosaic/layout.hpp"
#include "mosaic/pairwise.hpp"
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
      FovResultTiles tiles(out, campaign, fovs, records, pixel_nm, {"reconstruction"});
      PairwiseOptions po;
      po.pixel_nm = pixel_nm;
      po.overlap_um = campaign.overlap_um;
      po.search_um = vm["search-um"].as<double>();
      const auto t0 = std::chrono::steady_clock::now();
      const PairwiseResult pr = register_neighbours(tiles, po);
      LayoutOptions lo;
      lo.pixel_nm = pixel_nm;
      const Layout layout = solve_layout(tiles.tiles(), pr.edges, lo);
      const nlohmann::json j = layout_to_json(tiles.tiles(), layout, pixel_nm, pr.ncc_threshold);
      layout_text = j.dump(1);
      write_file_atomic(out + "/layout.json", layout_text + "\n");
      spdlog::info("layout: {} edges, {} accepted (NCC >= {:.2f}), {} dropped as outliers, residual RMS {:.2f} px, max {:.2f} px ({:.1f} s)",
                   pr.edges.size(), layout.accepted, pr.ncc_threshold, layout.dropped, layout.rms_residual_px,
                   layout.max_residual_px, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  bcast_string(error, comm);
  if (!error.empty()) throw InputError("stitch", error);
  bcast_string(layout_text, comm);
  MPI_Bcast(&result.failed_fovs, 1, MPI_INT, 0, comm);

  // Every rank places the tiles the same way and fuses its share of the block rows.
  const nlohmann::json j = nlohmann::json::parse(layout_text);
  FovResultTiles tiles(out, campaign, fovs, records, pixel_nm, {"reconstruction", "error map", "widefield"});
  Layout layout;
  for (const auto& t : j["tiles"]) {
    layout.x_px.push_back(t["x_px"].get<double>());
    layout.y_px.push_back(t["y_px"].get<double>());
  }
  const MosaicPlacement placement = place_tiles(tiles.tiles(), layout);
  MosaicInfo info;
  info.name = campaign.name;
  info.width_px = placement.width_px;
  info.height_px = placement.height_px;
  info.pixel_nm = pixel_nm;
  info.block_px = vm["block-px"].as<std::size_t>();
  info.channels = {
      {"reconstruction", "1 1 1", 65535.0, "A-net reconstruction A in [0, 1]; value = stored / 65535"},
      {"error map", "1 0 1", 16384.0, "A-net error map E (>= 0); value = stored / 16384"},
      {"widefield", "0 1 0", 1.0, "registered widefield, camera counts (ADU) resampled to the SR grid"}};
  ImsWriterOptions wo;
  wo.comm = comm;
  wo.qc = {{"fovs", std::to_string(fovs.size())},
           {"failed fovs", std::to_string(result.failed_fovs)},
           {"layout residual rms px", j["summary"]["rms_residual_px"].dump()},
           {"accepted edges", j["summary"]["accepted"].dump()}};
  const std::string path = out + "/mosaic.ims";
  ImsWriter writer(path, info, wo);
  writer.open();
  std::unique_ptr<Progress> progress;
  if (rank == 0) progress = std::make_unique<Progress>("mosaic block rows", (info.blocks_y() + size - 1) / size, "rows");
  FusionOptions fo;
  fo.blend = parse_blend(vm["blend"].as<std::string>());
  fo.feather_px = campaign.overlap_um * 1000.0 / pixel_nm;
  fuse_blocks(tiles, placement, info, fo, writer, rank, size, [&](std::size_t) {
    if (progress) progress->advance();
  });
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
