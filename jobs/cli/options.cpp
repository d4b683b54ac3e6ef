#include "cli/options.hpp"

#include <fmt/format.h>

#include <boost/algorithm/string/trim.hpp>
#include <boost/any.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

#include "batch/campaign.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/ini_text.hpp"
#include "core/input_file.hpp"

namespace annamosaic::cli {

void add_common_options(po::options_description& desc) {
  desc.add_options()
      ("help,h", "show this help and exit")
      ("config", po::value<std::string>(), "INI file with options (same names; the command line wins)")
      ("quiet,q", po::bool_switch(), "warnings and errors only")
      ("verbose,v", po::bool_switch(), "more detail (debug messages)")
      ("threads", po::value<std::size_t>()->default_value(0),
       "worker threads (0: SLURM_CPUS_PER_TASK if set, else all cores; run divides them among the ranks on a node)");
}

std::optional<std::map<std::string, std::string>> ini_section(const std::string& path, const std::string& section) {
  std::ifstream in(path);
  if (!in) throw IoError(path, std::string("cannot open the --config file: ") + std::strerror(errno));
  const std::string text(std::istreambuf_iterator<char>(in), {});
  std::map<std::string, std::string> keys;
  try {
    for (const IniEntry& e : parse_ini_text(text, path))
      if (e.section == section && !e.value.empty()) keys[e.key] = e.value;
  } catch (const InputError& e) {
    throw UsageError(e.what());
  }
  if (keys.empty()) return std::nullopt;
  return keys;
}

int verbosity(const po::variables_map& vm) {
  if (vm.count("quiet") && vm["quiet"].as<bool>()) return -1;
  return vm.count("verbose") && vm["verbose"].as<bool>() ? 1 : 0;
}

namespace {

po::options_description full_description(const Command& cmd) {
  po::options_description desc(cmd.name + " options");
  add_common_options(desc);
  po::options_description own;
  cmd.add_options(own);
  desc.add(own);
  return desc;
}

std::set<std::string> option_names(const po::options_description& d) {
  std::set<std::string> s;
  for (const auto& o : d.options()) s.insert(o->long_name());
  return s;
}

// Where each key of the INI file is set: Boost's messages lack line numbers.
struct IniKey {
  int line;
  std::string section, key;
};
std::vector<IniKey> scan_ini(const std::vector<IniEntry>& entries) {
  std::vector<IniKey> keys;
  for (const IniEntry& e : entries) keys.push_back({e.line, e.section, e.key});
  return keys;
}

// "path:LINE[,LINE]" where this command's `key` is set (in its section or before any section),
// so an error points at the line to fix; plain "path" when not found.
std::string ini_place(const std::string& path, const std::vector<IniKey>& keys, const std::string& command,
                      const std::string& key) {
  std::string lines;
  for (const IniKey& k : keys)
    if (k.key == key && (k.section.empty() || k.section == command))
      lines += (lines.empty() ? ":" : ",") + std::to_string(k.line);
  return path + lines;
}

// Reads the INI file, keeping keys of this command's section and global keys; renames
// "section.key" to "key" so the same names work in both places.
// The file is read by parse_ini_text (its comments, quotes and '~' rules), not Boost's reader,
// which cut a value at any '#'. An empty value is refused unless the option's default is empty.
po::parsed_options parse_ini(const std::string& path, const std::vector<IniEntry>& entries, const std::vector<IniKey>& lines,
                             const Command& cmd, const std::vector<Command>& all, const po::options_description& desc,
                             const std::set<std::string>& typed) {
  po::parsed_options parsed(&desc);
  for (const IniEntry& e : entries) {
    po::option o;
    o.string_key = e.section.empty() ? e.key : e.section + "." + e.key;
    o.value = {e.value};
    o.original_tokens = {o.string_key, e.value};
    o.unregistered = true;
    parsed.options.push_back(o);
    if (e.value.empty() && (e.section.empty() || e.section == cmd.name) && !typed.count(e.key))
      if (const auto* d = desc.find_nothrow(e.key, false)) {
        boost::any def;
        const bool empty_default = d->semantic()->apply_default(def) && boost::any_cast<std::string>(&def) &&
                                   boost::any_cast<std::string>(def).empty();
        if (!empty_default)
          throw UsageError(path + ":" + std::to_string(e.line) + ": '" + e.key +
                           "' has no value: give one, or remove the line for its default");
      }
  }
  std::set<std::string> mine = option_names(desc);
  std::set<std::string> known, sections;
  for (const auto& c : all) {
    sections.insert(c.name);
    auto d = full_description(c);
    for (const auto& n : option_names(d)) known.insert(n);
  }
  po::parsed_options kept(&desc);
  for (auto opt : parsed.options) {
    std::string key = opt.string_key;
    std::string section;
    if (auto dot = key.find('.'); dot != std::string::npos) {
      section = key.substr(0, dot);
      key = key.substr(dot + 1);
    }
    if (!section.empty() && section != cmd.name) {
      if (section == "campaign")
        throw UsageError(path + " describes a campaign ([campaign]): pass its folder with --campaign DIR; --config "
                                "takes an options file (e.g. [run] campaign = DIR, output = OUT)");
      if (!sections.count(section)) {
        std::string where = path;
        for (const IniKey& k : lines)
          if (k.section == section) {
            where += ":" + std::to_string(k.line);
            break;
          }
        throw UsageError(where + ": unknown section [" + section + "] (key '" + key + "'; sections are the commands' names)");
      }
      continue;  // another command's settings
    }
    if (key == "config")
      throw UsageError(ini_place(path, lines, cmd.name, key) + ": 'config' cannot be set inside a config file");
    if (!mine.count(key)) {
      if (section.empty() && known.count(key)) continue;  // a global key for other commands
      std::string owners;  // another command's option put in this section: say whose
      for (const auto& c : all)
        if (c.name != cmd.name && option_names(full_description(c)).count(key)) owners += (owners.empty() ? "" : ", ") + c.name;
      const bool campaign_key = key == "rows" || key == "cols" || key == "fov-um" || key == "overlap-um" || key == "order" ||
                                key == "table" || key == "widefield" || key == "off-grid";
      throw UsageError(ini_place(path, lines, cmd.name, key) + ": unknown option '" + key + "'" +
                       (section.empty() ? "" : " in section [" + section + "]") + " for 'annamosaic " + cmd.name + "'" +
                       (owners.empty() ? "" : " (an option of " + owners + ")") +
                       (campaign_key ? "; a campaign's " + key + " is in its campaign.ini" : ""));
    }
    // The command line wins: for a repeatable option (--channel) Boost would add the file's values
    // to the typed ones.
    if (typed.count(key)) continue;
    opt.string_key = key;
    opt.unregistered = false;
    kept.options.push_back(opt);
  }
  return kept;
}

bool is_unsigned_option(const po::value_semantic* sem) {
  return dynamic_cast<const po::typed_value<std::size_t>*>(sem) || dynamic_cast<const po::typed_value<unsigned>*>(sem) ||
         dynamic_cast<const po::typed_value<std::uint64_t>*>(sem);
}

// What a refused value should look like, from the option's type: Boost says only "is invalid".
std::string expected_form(const po::options_description& desc, const std::string& key) {
  const auto* d = desc.find_nothrow(key, false);
  if (!d) return "";
  const auto* sem = d->semantic().get();
  if (dynamic_cast<const po::typed_value<double>*>(sem))
    return ": expected a number with a decimal point '.', without a unit (the option's name says it: -nm, -um, -mb)";
  if (is_unsigned_option(sem) || dynamic_cast<const po::typed_value<int>*>(sem) || dynamic_cast<const po::typed_value<long>*>(sem))
    return ": expected a whole number, without a unit";
  if (dynamic_cast<const po::typed_value<bool>*>(sem)) return ": expected true or false";
  return "";
}

// Boost reads "-1" into an unsigned option as 18446744073709551615 (a --seed -1 ran with that).
void refuse_negative_unsigned(const po::parsed_options& parsed, const po::options_description& desc,
                              const std::function<std::string(const std::string&)>& place) {
  for (const auto& o : parsed.options) {
    const auto* d = desc.find_nothrow(o.string_key, false);
    if (!d || o.value.empty()) continue;
    const bool is_unsigned = is_unsigned_option(d->semantic().get());
    for (const auto& v : o.value)
      if (is_unsigned && boost::algorithm::trim_copy(v).rfind('-', 0) == 0)
        throw UsageError(place(o.string_key) + "--" + o.string_key + " must be 0 or more, not " + v);
  }
}

std::string any_to_string(const boost::any& v) {
  std::ostringstream s;
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<double>(&v)) return fmt::format("{}", *p);  // shortest text that reads back the same
  if (auto p = boost::any_cast<float>(&v)) { s << *p; return s.str(); }
  if (auto p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<long>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::size_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::int64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<std::uint64_t>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<unsigned>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<std::vector<std::string>>(&v)) {
    std::string out;
    for (const auto& e : *p) out += (out.empty() ? "" : " ") + e;
    return out;
  }
  return "?";
}

std::string& invocation_storage() {
  static std::string s;
  return s;
}

}  // namespace

const std::string& invocation() { return invocation_storage(); }

namespace {
bool g_failure_echoed = false;
// Where each option of the command as typed was set in its --config file (the first parse only:
// later ones are the program's own, e.g. a configuration that status reads).
std::map<std::string, std::string> g_config_places;
bool g_first_parse = true;
}

std::vector<std::string> given_options_marked(const Command& cmd, const po::variables_map& vm, const std::string& help_prefix) {
  std::vector<std::string> given;
  po::options_description own;
  cmd.add_options(own);
  for (const auto& o : own.options())
    if (o->description().rfind(help_prefix, 0) == 0 && vm.count(o->long_name()) && !vm[o->long_name()].defaulted())
      given.push_back("--" + o->long_name());
  return given;
}

std::string config_place_note(const std::string& message) {
  if (message.rfind("missing argument; usage:", 0) == 0) return "";  // options in the usage line were not the fault
  for (std::size_t at = message.find("--"); at != std::string::npos; at = message.find("--", at + 2)) {
    std::size_t end = at + 2;
    while (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-')) ++end;
    const auto it = g_config_places.find(message.substr(at + 2, end - at - 2));
    if (it == g_config_places.end()) continue;
    const std::string file = it->second.substr(0, it->second.rfind(':'));
    if (message.find(file) != std::string::npos) return "";  // the message names the file already
    return " (set in " + it->second + ")";
  }
  return "";
}
void mark_failure_echoed() { g_failure_echoed = true; }
bool failure_echoed() { return g_failure_echoed; }

bool parse_options(const Command& cmd, const std::vector<Command>& all, int argc, const char* const* argv,
                   po::variables_map& vm) {
  std::string& inv = invocation_storage();
  inv = "annamosaic";
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    inv += a.find_first_of(" \t'\"") == std::string::npos ? " " + a : " '" + a + "'";
  }
  po::options_description desc = full_description(cmd);
  po::positional_options_description pos;
  for (std::size_t i = 0; i < cmd.positional.size(); ++i)
    pos.add(cmd.positional[i].c_str(), cmd.last_positional_repeats && i + 1 == cmd.positional.size() ? -1 : 1);
  try {
    auto cl = po::command_line_parser(argc, argv).options(desc).positional(pos).run();
    refuse_negative_unsigned(cl, desc, [](const std::string&) { return std::string(); });
    po::store(cl, vm);  // stored first: command-line values win over the file's
    if (vm.count("help")) {
      std::cout << "usage: " << cmd.usage << "\n\n" << cmd.summary << "\n\n" << desc << "\n";
      if (!cmd.details.empty()) std::cout << cmd.details << "\n";
      return false;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) throw UsageError("--config " + path + ": is a folder; --config takes an INI file");
      // A named pipe nobody writes to would block the open; one already open (the shell's
      // <(...), /dev/fd/N) is read.
      if (path.rfind("/dev/fd/", 0) != 0 && path.rfind("/proc/self/fd/", 0) != 0) try {
          require_regular_file(path, "configuration");
        } catch (const IoError& e) {
          throw UsageError("--config " + std::string(e.what()));
        }
      std::ifstream file(path);
      // There but unreadable (permissions): the environment's fault, said with the system's reason (probe102).
      if (!file) throw IoError(path, std::string("cannot open the --config file: ") + std::strerror(errno));
      const std::string text(std::istreambuf_iterator<char>(file), {});
      // A TIFF or a model file given by mistake: say so, rather than quote its bytes as a line.
      for (std::size_t i = 0; i < text.size(); ++i)
        if (const auto c = static_cast<unsigned char>(text[i]); c < 0x20 && c != '\t' && c != '\n' && c != '\r')
          throw UsageError(fmt::format("--config {}: not a text file (byte {} is 0x{:02x}); --config takes an INI file", path, i, c));
      std::vector<IniEntry> entries;
      try {
        entries = parse_ini_text(text, path);
      } catch (const InputError& e) {
        throw UsageError(e.what());
      }
      const std::vector<IniKey> lines = scan_ini(entries);
      std::set<std::string> typed;
      for (const auto& o : cl.options) typed.insert(o.string_key);
      if (g_first_parse) {
        for (const IniKey& k : lines)
          if ((k.section.empty() || k.section == cmd.name) && !typed.count(k.key))
            g_config_places[k.key] = ini_place(path, lines, cmd.name, k.key);
      }
      try {
        const po::parsed_options from_file = parse_ini(path, entries, lines, cmd, all, desc, typed);
        refuse_negative_unsigned(from_file, desc, [&](const std::string& key) { return ini_place(path, lines, cmd.name, key) + ": "; });
        po::store(from_file, vm);
      } catch (const po::error_with_option_name& e) {
        std::string key = e.get_option_name();
        key.erase(0, key.find_first_not_of('-'));
        throw UsageError(ini_place(path, lines, cmd.name, key) + ": " + e.what() +
                         (dynamic_cast<const po::invalid_option_value*>(&e) ? expected_form(desc, key) : std::string()));
      } catch (const po::error& e) {
        throw UsageError(path + ": " + e.what());
      }
    }
    po::notify(vm);
    // A number option given as nan or inf (Boost reads both) is never meant: refused by name
    // before it reaches a computation ("Image size overflows" said nothing of --overlap-um nan).
    for (const auto& [key, value] : vm)
      if (const auto* v = boost::any_cast<double>(&value.value()); v && !value.defaulted() && !std::isfinite(*v))
        throw UsageError("--" + key + " must be a finite number, not " + fmt::format("{}", *v));
    // A camera pixel given in um or pm, in every command that takes one.
    if (vm.count("camera-pixel-nm") && !vm["camera-pixel-nm"].defaulted())
      if (const std::string slip = camera_pixel_slip(vm["camera-pixel-nm"].as<double>()); !slip.empty())
        throw UsageError("--camera-pixel-nm " + slip);
    // An empty path (--campaign "", an unset shell variable) is no folder; options whose default is
    // empty (simulate --name) may be given empty.
    for (const auto& [key, value] : vm)
      if (const auto* v = boost::any_cast<std::string>(&value.value()); v && v->empty() && !value.defaulted())
        if (const auto* d = desc.find_nothrow(key, false)) {
          boost::any def;
          if (!d->semantic()->apply_default(def) || !boost::any_cast<std::string>(def).empty())
            throw UsageError("--" + key + " is empty" + config_place_note("--" + key));
        }
    g_first_parse = false;
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError("too many arguments for 'annamosaic " + cmd.name + "' (see --help)");
  } catch (const po::required_option& e) {
    // A missing argument (the table, the folder) is stored as an option internally: show the usage
    // line rather than an option name the user never typed.
    std::string name = e.get_option_name();
    name.erase(0, name.find_first_not_of('-'));
    if (std::find(cmd.positional.begin(), cmd.positional.end(), name) != cmd.positional.end())
      throw UsageError("missing argument; usage: " + cmd.usage + " (see 'annamosaic " + cmd.name + " --help')");
    throw UsageError(std::string(e.what()) + " (see 'annamosaic " + cmd.name + " --help')");
  } catch (const po::unknown_option& e) {
    // A folder named "-qd" reads as options: said, with the spelling that is a path.
    const std::string token = e.get_option_name();
    std::error_code ec;
    const std::string path_hint = !token.empty() && token[0] == '-' && std::filesystem::exists(token, ec)
                                      ? "; " + token + " is a file or folder here: give it as ./" + token
                                      : "";
    throw UsageError(std::string(e.what()) + path_hint + " (see 'annamosaic " + cmd.name + " --help')");
  } catch (const po::invalid_option_value& e) {
    std::string key = e.get_option_name();
    key.erase(0, key.find_first_not_of('-'));
    throw UsageError(std::string(e.what()) + expected_form(desc, key) + " (see 'annamosaic " + cmd.name + " --help')");
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see 'annamosaic " + cmd.name + " --help')");
  }
  return true;
}

std::string effective_config(const Command& cmd, const po::variables_map& vm) {
  std::string s = kEffectiveConfigHeader + cmd.name + "', annamosaic " +
                  annamosaic_version() + "\n[" + cmd.name + "]\n";
  // Values as they read back (a path with " # " or a '$' in quotes), or the option is named.
  const auto line = [](const std::string& key, const std::string& text) {
    try {
      return key + " = " + ini_value_text(text) + "\n";
    } catch (const InputError& e) {
      throw UsageError("--" + key + ": " + e.message());
    }
  };
  for (const auto& [key, value] : vm) {
    if (key == "help" || key == "config" || value.empty()) continue;
    // A repeatable option (stitch --channel, --register) as one line per value: joined on one
    // line it would read back as a single value.
    if (const auto* many = boost::any_cast<std::vector<std::string>>(&value.value())) {
      for (const std::string& v : *many) s += line(key, v);
      continue;
    }
    std::string text = any_to_string(value.value());
    // A value that is blanks alone (--delimiter $'\t') would read back empty: its name instead.
    if (key == "delimiter" && text == "\t") text = "tab";
    s += line(key, text);
  }
  return s;
}

std::string search_um_slip(double search_um, double step_um, const char* what) {
  if (!(step_um > 0) || search_um < 50 || search_um <= step_um) return "";
  const double times = search_um / step_um;
  return fmt::format("--search-um {:g} is {} times the step between {} ({:.4g} um), beyond any stage's error: is the value in "
                     "nm ({:g} nm is {:g} um)?",
                     search_um, times >= 10 ? fmt::format("{:.0f}", times) : fmt::format("{:.2g}", times), what, step_um,
                     search_um, search_um / 1000.0);
}

double positive_option(const po::variables_map& vm, const char* name) {
  const double v = vm[name].as<double>();
  if (!(v > 0)) throw UsageError(std::string("--") + name + " must be > 0");
  return v;
}

double non_negative_option(const po::variables_map& vm, const char* name) {
  const double v = vm[name].as<double>();
  if (!(v >= 0)) throw UsageError(std::string("--") + name + " must be >= 0");
  return v;
}

double fraction_option(const po::variables_map& vm, const char* name) {
  const double v = vm[name].as<double>();
  if (!(v >= 0 && v <= 1)) throw UsageError(std::string("--") + name + " must be in [0, 1]");
  return v;
}

}  // namespace annamosaic::cli
