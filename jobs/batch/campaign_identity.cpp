#include "batch/campaign_identity.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "core/checksum.hpp"

namespace annamosaic {
namespace fs = std::filesystem;

nlohmann::json campaign_identity(const CampaignInfo& campaign) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(fs::absolute(campaign.dir), ec);
  const std::string path = (ec ? fs::absolute(campaign.dir).lexically_normal() : canonical).string();
  std::string positions, inputs;
  try {
    std::string text = fmt::format("{} {} {}\n", campaign.rows, campaign.cols, campaign.fov_um), sizes;
    const auto size = [](const std::string& file) {
      std::error_code e;
      const auto n = file.empty() ? std::uintmax_t{0} : fs::file_size(file, e);
      return e ? std::string("-") : std::to_string(n);
    };
    for (const FovEntry& f : plan_fovs(campaign)) {
      text += fmt::format("{} {} {} {} {}\n", f.id, f.row, f.col, f.x_um, f.y_um);
      sizes += fmt::format("{} {} {}\n", f.id, size(f.table_path), size(f.widefield_path));
    }
    positions = text_checksum(text);
    inputs = text_checksum(sizes);
  } catch (const std::exception&) {
    // A campaign whose positions cannot be read is refused where they are read.
  }
  return {{"name", campaign.name}, {"path", path}, {"positions", positions}, {"inputs", inputs}};
}

IdentityCheck check_campaign_identity(const nlohmann::json& recorded, const nlohmann::json& now) {
  IdentityCheck c;
  if (!recorded.is_object()) return c;
  const auto field = [](const nlohmann::json& j, const char* k) { return j.value(k, std::string()); };
  const std::string was_name = field(recorded, "name"), was_path = field(recorded, "path");
  const std::string name = field(now, "name"), path = field(now, "path");
  std::error_code ec;
  if (was_path == path || fs::equivalent(was_path, path, ec)) return c;
  // Compared only where recorded (records of older runs lack the later keys).
  const auto differs = [&](const char* k) { return !field(recorded, k).empty() && field(recorded, k) != field(now, k); };
  const bool other_positions = differs("positions"), other_inputs = differs("inputs");
  if (was_name != name || other_positions || other_inputs) {
    c.refusal = fmt::format("holds the FoV results of campaign '{}' ({}), not of this run's campaign '{}' ({}{}): give each "
                            "campaign its own --output (the [run] output of its configuration)",
                            was_name, was_path, name, path,
                            was_name != name  ? ""
                            : other_positions ? ", other FoV positions"
                                              : ", other input files (their sizes differ)");
    return c;
  }
  c.moved = true;
  return c;
}

nlohmann::json campaign_fov_settings(const CampaignInfo& c) {
  // campaign.ini's own key names (its `structure` is a label: the switch id is what the A-net gets).
  // frame-base: where frame windows start (records older than it lack it: not compared).
  return {{"camera-pixel-nm", c.camera_pixel_nm},
          {"fov-um", c.fov_um},
          {"switch-id", c.switch_id},
          {"widefield-frames", c.widefield_frames},
          {"frame-base", c.frame_base >= 0 ? nlohmann::json(c.frame_base) : nlohmann::json("per table")}};
}

std::string changed_campaign_settings(const nlohmann::json& recorded, const CampaignInfo& campaign, bool frame_windows) {
  std::string diff;
  if (!recorded.is_object()) return diff;
  const nlohmann::json now = campaign_fov_settings(campaign);  // items() of a temporary would dangle
  for (const auto& [k, v] : now.items())
    if (recorded.contains(k) && recorded[k] != v && (frame_windows || k != "frame-base"))
      diff += (diff.empty() ? "" : ", ") + k + " " + recorded[k].dump() + " -> " + v.dump();
  return diff;
}

std::string campaign_settings_refusal(const nlohmann::json& recorded, const CampaignInfo& campaign, bool frame_windows) {
  const std::string changed = changed_campaign_settings(recorded, campaign, frame_windows);
  return changed.empty() ? changed
                         : "holds FoV results made with other settings in " + campaign.dir + "/campaign.ini" +
                               (campaign.camera_pixel_from != "campaign.ini" && changed.find("camera-pixel-nm") != std::string::npos
                                    ? " or --camera-pixel-nm"
                                    : "") +
                               " (" + changed + "): use another output folder (--output), or delete its fov/ and manifest.jsonl to redo them";
}

}  // namespace annamosaic
