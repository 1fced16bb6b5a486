// The protocol version both sides send and check in Register. Bump it on any change of
// proto/coordinator.proto that a peer of the previous version would misread.
#pragma once

namespace gansweep {
constexpr int kProtocolVersion = 1;
}
