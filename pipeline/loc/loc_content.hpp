#pragma once
// What a localization table holds, whatever its row order, delimiter, number format or column
// order: a copy of a table with its rows shuffled (or re-exported) is the same data to a training
// that holds some out for validation, and to an evaluation of a model trained on it.
#include <cstdint>
#include <string>

#include "loc/loc_table.hpp"

namespace annamosaic {

// One localization's identity: its frame and its position to 0.001 nm (a re-export's float
// noise is the same localization; one rounded to fewer decimals than its source is not always).
std::uint64_t localization_key(std::int32_t frame, double x_nm, double y_nm);

// "locset:<16 hex digits>": a sum over the rows of their mixed keys, so independent of their
// order; a localization given twice counts twice.
std::string content_fingerprint(const LocTable& table);

}  // namespace annamosaic
