#pragma once
// What an input path is, checked before opening it: a named pipe (FIFO) blocks an open until
// some writer appears (a run would hang, deaf to SIGTERM), and a dangling link reads as "no such
// file" without saying where it points.
#include <string>

namespace annamosaic {

// Throws IoError naming `path` when it is a link to nothing (naming the target), a folder, or
// not a regular file (a FIFO, socket or device); returns when it is a regular file or does not
// exist (the caller's open then says so). `what` names the kind of file wanted ("table").
void require_regular_file(const std::string& path, const char* what = "file");

}  // namespace annamosaic
