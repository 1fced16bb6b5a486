// Whole-file reads for the dataset readers.
#pragma once

#include <string>
#include <vector>

namespace gansweep {

// The file's bytes; a name ending in .gz is decompressed. Throws DataError naming the file.
std::vector<unsigned char> read_file_bytes(const std::string& path);
bool is_directory(const std::string& path);
bool file_exists(const std::string& path);
// The first of `names` that exists inside `folder`, or throws DataError listing them all.
std::string find_in_folder(const std::string& folder, const std::vector<std::string>& names);

}  // namespace gansweep
