// SHA-256 as lower-case hex: the hash that names metric weights (events' weights_sha256) and
// sweep contents, computed one way for both planes.
#pragma once

#include <string>
#include <string_view>

namespace gansweep {

std::string sha256_hex(std::string_view data);

}  // namespace gansweep
