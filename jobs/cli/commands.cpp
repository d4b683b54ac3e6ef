#include "cli/commands.hpp"

namespace annamosaic::cli {

std::vector<Command> all_commands() {
  std::vector<Command> c;
#ifdef ANNAMOSAIC_HAVE_TORCH
  c.push_back(run_command());
  c.push_back(status_command());
#endif
  c.push_back(init_campaign_command());
  c.push_back(simulate_command());
#ifdef ANNAMOSAIC_HAVE_TORCH
  c.push_back(train_command());
  c.push_back(reconstruct_command());
  c.push_back(evaluate_command());
#endif
  c.push_back(stitch_command());
  c.push_back(render_command());
  c.push_back(export_command());
  c.push_back(inspect_command());
  c.push_back(table_info_command());
  return c;
}

po::variables_map options_of(const std::string& command, const std::vector<std::string>& argv) {
  const auto cmds = all_commands();
  for (const auto& c : cmds) {
    if (c.name != command) continue;
    std::vector<const char*> args;
    for (const auto& a : argv) args.push_back(a.c_str());
    po::variables_map vm;
    parse_options(c, cmds, static_cast<int>(args.size()), args.data(), vm);
    return vm;
  }
  throw UsageError("no command '" + command + "'");
}

}  // namespace annamosaic::cli
