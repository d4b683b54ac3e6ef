#pragma once
// Internal to annamosaic_pyramid: IMS-style attributes (1-D arrays of 1-character strings) on
// top of the shared HDF5 helpers (core/hdf5_util.hpp: Hid, Lock, error_text).
#include <hdf5.h>

#include <string>
#include <vector>

#include "core/hdf5_util.hpp"

namespace annamosaic::h5 {

// IMS attribute: `value` as a 1-D array of value.size() one-character strings (H5T_C_S1, size 1).
// Returns false on failure (HDF5 stack left for error_text()).
bool write_text_attr(hid_t obj, const std::string& name, const std::string& value);
bool write_u32_attr(hid_t obj, const std::string& name, unsigned value);

// Reads a text attribute written as a char array (IMS), a fixed-length string or a
// variable-length string; trailing NULs removed. false if absent or unreadable.
bool read_text_attr(hid_t obj, const std::string& name, std::string& value);
// All attribute names of obj in creation/name order.
std::vector<std::string> attr_names(hid_t obj);

// Opens the group `name` below loc, creating it when missing.
Hid open_or_create_group(hid_t loc, const std::string& name);

}  // namespace annamosaic::h5
