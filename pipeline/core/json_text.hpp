#pragma once
// JSON text for the files a run writes (manifest, summaries, qc.json). Strings there quote user
// input (a table's header in a FoV's failure reason), which need not be UTF-8: a Latin-1 "µ" from
// a Windows export made nlohmann::json::dump throw and took the run down. Invalid bytes are
// written as U+FFFD instead.
#include <string>

#include <nlohmann/json.hpp>

namespace annamosaic {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace annamosaic
