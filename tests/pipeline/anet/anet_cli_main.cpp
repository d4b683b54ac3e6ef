// Test driver for the A-net commands until they are registered in jobs/cli/main.cpp: the same
// dispatch, error mapping and thread set-up as `annamosaic`, for `train`, `reconstruct` and
// `evaluate` only (the CLI tests run it as `anet_cli <command> ...`).
#include <tbb/global_control.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic::cli {
Command train_command();
Command reconstruct_command();
Command evaluate_command();
}  // namespace annamosaic::cli
using namespace annamosaic;
using namespace annamosaic::cli;

int main(int argc, char** argv) {
  const std::vector<Command> cmds = {train_command(), reconstruct_command(), evaluate_command()};
  if (argc < 2) {
    std::cerr << "usage: anet_cli train|reconstruct|evaluate [options]\n";
    return 1;
  }
  const Command* cmd = nullptr;
  for (const auto& c : cmds)
    if (c.name == argv[1]) cmd = &c;
  if (!cmd) {
    std::cerr << "anet_cli: unknown command '" << argv[1] << "'\n";
    return 1;
  }
  try {
    po::variables_map vm;
    if (!parse_options(*cmd, cmds, argc - 1, argv + 1, vm)) return 0;
    init_logging(verbosity(vm));
    std::size_t threads = vm["threads"].as<std::size_t>();
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    return cmd->run(vm);
  } catch (const UsageError& e) {
    std::cerr << "annamosaic " << cmd->name << ": " << e.what() << "\n";
    return 1;
  } catch (const InputError& e) {
    std::cerr << "annamosaic " << cmd->name << ": error: " << e.what() << "\n";
    return 2;
  } catch (const IoError& e) {
    std::cerr << "annamosaic " << cmd->name << ": error: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "annamosaic " << cmd->name << ": internal error: " << e.what() << "\n";
    return 4;
  }
}
