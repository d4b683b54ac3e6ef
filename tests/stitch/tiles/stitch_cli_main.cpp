// `annamosaic stitch` alone, for testing jobs/cli/cmd_stitch.cpp before it is registered in the
// main binary: the same option parsing, logging, thread limit and exit codes as jobs/cli/main.cpp.
#include <tbb/global_control.h>

#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

using namespace annamosaic;
using namespace annamosaic::cli;

int main(int argc, char** argv) {
  const std::vector<Command> cmds{stitch_command()};
  const Command& cmd = cmds[0];
  try {
    po::variables_map vm;
    if (!parse_options(cmd, cmds, argc, argv, vm)) return 0;
    init_logging(verbosity(vm));
    const std::size_t requested = vm["threads"].as<std::size_t>();
    const std::size_t threads = requested ? requested : std::max(1u, std::thread::hardware_concurrency());
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    return cmd.run(vm);
  } catch (const UsageError& e) {
    std::cerr << "annamosaic stitch: " << e.what() << "\n";
    return 1;
  } catch (const InputError& e) {
    std::cerr << "annamosaic stitch: error: " << e.what() << "\n";
    return 2;
  } catch (const IoError& e) {
    std::cerr << "annamosaic stitch: error: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "annamosaic stitch: internal error: " << e.what() << "\n";
    return 4;
  }
}
