// Stand-in for the `annamosaic` binary with only `export` and `inspect`, so the CLI end-to-end
// checks run before those commands are registered in jobs/cli/main.cpp (same option parsing and
// exit codes as main.cpp: 0 ok, 1 usage, 2 bad input, 3 I/O, 4 internal). Once the commands are
// registered, tests/stitch/pyramid/CMakeLists.txt uses the real binary instead.
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <cstring>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic::cli {
Command export_command();
Command inspect_command();
}  // namespace annamosaic::cli

using namespace annamosaic;
using namespace annamosaic::cli;

int main(int argc, char** argv) {
  const std::vector<Command> cmds = {export_command(), inspect_command()};
  if (argc < 2) {
    std::cerr << "usage: pyramid_cli export|inspect ...\n";
    return 1;
  }
  const Command* cmd = nullptr;
  for (const auto& c : cmds)
    if (c.name == argv[1]) cmd = &c;
  if (!cmd) {
    std::cerr << "pyramid_cli: unknown command '" << argv[1] << "'\n";
    return 1;
  }
  try {
    po::variables_map vm;
    if (!parse_options(*cmd, cmds, argc - 1, argv + 1, vm)) return 0;
    init_logging(verbosity(vm));
    const std::size_t threads = vm["threads"].as<std::size_t>();
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                              threads ? threads : tbb::this_task_arena::max_concurrency());
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
