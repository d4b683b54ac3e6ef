// annamosaic: command-line entry point. Parses the command and hands over to a library call.
// Exit status: 0 success, 1 usage error, 2 bad input, 3 I/O or environment error, 4 internal error.
#include <sys/resource.h>
#include <tbb/global_control.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <new>
#include <vector>

#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/process.hpp"

#ifdef ANNAMOSAIC_HAVE_TORCH
#include "cli/model_file.hpp"
#endif

namespace annamosaic::cli {
std::string torch_runtime_info();
}
using namespace annamosaic;
using namespace annamosaic::cli;

namespace {

void print_usage(const std::vector<Command>& cmds) {
  std::cout << "annamosaic " << annamosaic_version()
            << ": high-throughput super-resolution microscopy (ANNA-PALM) pipeline\n\n"
               "usage: annamosaic <command> [options]    annamosaic <command> --help\n\ncommands:\n";
  std::size_t width = 0;
  for (const auto& c : cmds) width = std::max(width, c.name.size());
  for (const auto& c : cmds) std::cout << "  " << c.name << std::string(width + 2 - c.name.size(), ' ') << c.summary << "\n";
  std::cout << "\noptions: --help, --version\n";
}

std::size_t thread_count(std::size_t requested) {
  if (requested > 0) return requested;
  if (const char* s = std::getenv("SLURM_CPUS_PER_TASK")) {
    const long n = std::atol(s);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  return affinity_cpu_count();  // the CPUs this process may use, not the whole machine
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();  // before any thread starts (see core/process.hpp)
  const auto cmds = all_commands();
  // `annamosaic help render` is `annamosaic render --help`.
  std::vector<char*> help_args;
  if (argc == 3 && !std::strcmp(argv[1], "help")) {
    static char help_flag[] = "--help";
    help_args = {argv[0], argv[2], help_flag, nullptr};
    argc = 3;
    argv = help_args.data();
  }
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_usage(cmds);
    return argc < 2 ? 1 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "annamosaic " << annamosaic_version() << "\n" << library_versions();
#ifdef ANNAMOSAIC_HAVE_TORCH
    // Where a bare --model name is looked for (after the working folder), in that order.
    std::cout << "model folders:";
    for (const std::string& d : model_search_dirs()) std::cout << " " << d;
    std::cout << "\n";
#endif
    if (argc > 2 && !std::strcmp(argv[2], "--verbose")) std::cout << torch_runtime_info();
    return 0;
  }
  const Command* cmd = nullptr;
  for (const auto& c : cmds)
    if (c.name == argv[1]) cmd = &c;
  if (!cmd) {
    // The nearest command by edit distance, when it is near (a typo such as "rendr").
    const auto distance = [](const std::string& a, const std::string& b) {
      std::vector<std::size_t> d(b.size() + 1);
      for (std::size_t j = 0; j <= b.size(); ++j) d[j] = j;
      for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = d[0];
        d[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
          const std::size_t up = d[j];
          d[j] = std::min({d[j] + 1, d[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
          diag = up;
        }
      }
      return d[b.size()];
    };
    const Command* nearest = nullptr;
    std::size_t best = 3;  // at most 2 edits
    for (const auto& c : cmds)
      if (const std::size_t dist = distance(argv[1], c.name); dist < best) best = dist, nearest = &c;
    std::cerr << "annamosaic: unknown command '" << argv[1] << "'"
              << (nearest ? "; did you mean '" + nearest->name + "'?" : std::string()) << " (see 'annamosaic --help')\n";
    return 1;
  }
  try {
    po::variables_map vm;
    if (!parse_options(*cmd, cmds, argc - 1, argv + 1, vm)) return 0;
    init_logging(verbosity(vm));
    // A negative number arrives wrapped around to a huge unsigned one.
    if (vm["threads"].as<std::size_t>() > 65536) throw UsageError("--threads must be between 0 (all the CPUs allowed) and 65536");
    const std::size_t threads = thread_count(vm["threads"].as<std::size_t>());
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    spdlog::debug("annamosaic {} {} with {} threads", annamosaic_version(), cmd->name, threads);
    // A file-size limit (ulimit -f) ends the process at the first write past it (SIGXFSZ), with
    // nothing said and the output's temporary file left: said before the work, by the commands
    // that write.
    if (rlimit lim{}; cmd->name != "status" && cmd->name != "inspect" && cmd->name != "table-info" &&
                      ::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
      spdlog::warn("this process may write files of at most {:.4g} MB (ulimit -f): a larger output (a mosaic, a result) "
                   "ends it at that size; raise the limit (ulimit -f unlimited) first",
                   static_cast<double>(lim.rlim_cur) / 1e6);
    return cmd->run(vm);
  } catch (const Stopped& e) {
    std::cerr << "annamosaic " << cmd->name << ": "
              << stopped_by_text()
              << ": " << e.what()
              << (cmd->name == "export"   ? std::string("; nothing was written, rerun to export")
                  : cmd->name == "stitch" ? std::string("; nothing was written under the output's name, rerun to stitch")
                  : cmd->name == "train"  ? std::string()  // its message says how to resume (--resume)
                  : cmd->name == "run"    ? std::string("; the FoVs done are kept, rerun to resume")
                                          : std::string("; what was finished is kept, rerun to resume"))
              << " (exit " << kExitRequeue << ")\n";
    return kExitRequeue;
  } catch (const UsageError& e) {
    if (!failure_echoed())
      std::cerr << "annamosaic " << cmd->name << ": error: " << e.what() << config_place_note(e.what()) << "\n";
    return 1;
  } catch (const InputError& e) {
    if (!failure_echoed())
      std::cerr << "annamosaic " << cmd->name << ": error: " << e.what() << config_place_note(e.what()) << "\n";
    // An option's value refused where it is parsed (--frames 10, --blend foo) is a usage error,
    // whichever module parsed it: exit 1 like the options the command line parser refuses.
    return e.file().rfind("--", 0) == 0 ? 1 : 2;
  } catch (const IoError& e) {
    if (!failure_echoed()) std::cerr << "annamosaic " << cmd->name << ": error: " << e.what() << "\n";
    return 3;
  } catch (const std::filesystem::filesystem_error& e) {
    // A folder that cannot be made or read (a path under a regular file, no permission, disk
    // full) is the environment's, like IoError: name the path, say what the system said.
    std::cerr << "annamosaic " << cmd->name << ": error: " << error_text(e) << "\n";
    return 3;
  } catch (const std::exception& e) {
    if (is_out_of_memory(e)) {
      // The environment's limit, not a bug (probe95: "internal error: std::bad_alloc" under a
      // memory limit): what to check, with the process's peak use.
      if (!failure_echoed())
        std::cerr << "annamosaic " << cmd->name << ": error: " << error_text(e) << ", peak "
                  << fmt::format("{:.0f}", peak_rss_mb())
                  << " MB resident: an image or table larger than the memory this process may use (a job's --mem, "
                     "ulimit -v); the log above says what was being made. Give it more memory, or check the input's "
                     "size and unit (exit 3)\n";
      return 3;
    }
    if (!failure_echoed()) std::cerr << "annamosaic " << cmd->name << ": internal error: " << e.what() << "\n";
    return 4;
  }
}
