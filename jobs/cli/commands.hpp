#pragma once
// The subcommands of `annamosaic`; each is a thin layer over library calls.
#include <string>

#include "cli/options.hpp"
#include "loc/table_reader.hpp"

namespace annamosaic::cli {

Command render_command();
Command table_info_command();
Command simulate_command();

// Options shared by every command that reads localization tables.
void add_table_options(po::options_description& desc);
TableReadOptions table_options(const po::variables_map& vm);
// Reads a table, logging size, columns, parse rate and skipped rows.
LocTable read_table_logged(const std::string& path, const po::variables_map& vm);

// "out/sparse.tif" -> "out/sparse" (the stem used for side files).
std::string path_stem(const std::string& path);
// Writes the effective configuration atomically to `path` and logs it.
void write_config_next_to(const std::string& path, const Command& cmd, const po::variables_map& vm);

}  // namespace annamosaic::cli
