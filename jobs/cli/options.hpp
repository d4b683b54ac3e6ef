#pragma once
// Command-line and INI configuration for every `annamosaic <command>`.
// Options come from the command line and from `--config file.ini` (Boost.Program_options), with
// the same names: `--pixel-nm 20` on the command line is `pixel-nm = 20` in the file, either
// before any section or in the section named after the command (`[render]`). The command line
// wins. Keys in other commands' sections are ignored; a key no command knows is an error that
// names the file and key. The effective configuration can be written back as INI.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace annamosaic::cli {

namespace po = boost::program_options;

struct Command {
  std::string name;
  std::string summary;     // one line for `annamosaic --help`
  std::string usage;       // e.g. "annamosaic render TABLE [options]"
  std::string details;     // paragraph printed by --help after the options
  std::function<void(po::options_description&)> add_options;
  std::vector<std::string> positional;  // option names taking positional arguments, in order
  bool last_positional_repeats = false;  // the last of them takes every further argument
  std::function<int(const po::variables_map&)> run;
};

// Usage errors (exit status 1): unknown option, bad value, missing argument.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options every command has: --help, --config, -q/--quiet, -v/--verbose, --threads.
void add_common_options(po::options_description& desc);

// Parses argv (argv[0] is the command name). Returns false if --help was printed.
// `all_commands` is used to accept keys of other commands in global INI sections.
bool parse_options(const Command& cmd, const std::vector<Command>& all_commands, int argc, const char* const* argv,
                   po::variables_map& vm);
// The command line of the last parse_options() call, as typed ("annamosaic CMD ARGS...";
// arguments with spaces quoted): provenance for files a command writes (model files).
const std::string& invocation();
// A double option with its default shown as written in --help ("(=0.3)"): boost prints 17 digits
// ("(=0.29999999999999999)") and sizes the help's columns by them.
inline po::typed_value<double>* double_default(double v) { return po::value<double>()->default_value(v, fmt::format("{}", v)); }

// A true/false option that may be given alone: `--register-widefield` is `--register-widefield true`;
// `--register-widefield false` (two words) still reads the word (Boost takes a next token that is
// not an option).
inline po::typed_value<bool>* bool_option(bool default_value) {
  return po::value<bool>()->default_value(default_value, default_value ? "true" : "false")->implicit_value(true, "true");
}

// INI text of the effective configuration: a [command] section with every option that has a value.
// The first line of every effective configuration starts with this (then the command's name).
inline constexpr const char* kEffectiveConfigHeader = "# effective configuration of 'annamosaic ";
std::string effective_config(const Command& cmd, const po::variables_map& vm);

// The keys of one [section] of an INI file (values as written); nullopt when the file has no key
// in that section. UsageError when the file cannot be read.
std::optional<std::map<std::string, std::string>> ini_section(const std::string& path, const std::string& section);

// " (set in FILE:LINE)" when `message` names an option (--key) whose value came from the --config
// file of the command as typed (not from its command line), "" otherwise: value checks made long
// after parsing then still point at the line to fix.
std::string config_place_note(const std::string& message);

// The options of `cmd` given (on the command line or in the --config file, not defaulted) whose
// help text starts with `help_prefix` ("simulated:"), as "--name" in the order --help lists them:
// what a mode that does not use them would otherwise ignore without a word.
std::vector<std::string> given_options_marked(const Command& cmd, const po::variables_map& vm, const std::string& help_prefix);

// A failure every MPI rank learned from a collective agreement (the same message on each) is
// reported by rank 0 alone: the other ranks mark it, and main() prints no final line for it
// (a 32-rank job would otherwise end its log with 32 copies).
void mark_failure_echoed();
bool failure_echoed();

// Verbosity from -q / -v (repeatable).
int verbosity(const po::variables_map& vm);

}  // namespace annamosaic::cli
