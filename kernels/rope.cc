#include "kernels/rope.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace infernum::kernels {

absl::StatusOr<std::vector<float>> ComputeRopeInvFreq(float theta,
                                                      int rotary_dim,
                                                      const RopeScaling& s) {
  if (rotary_dim <= 0 || rotary_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotary dim must be even, got ", rotary_dim));
  }
  if (!(theta > 0))
    return absl::InvalidArgumentError("rope_theta must be positive");
  std::vector<float> inv(rotary_dim / 2);
  for (int j = 0; j < rotary_dim / 2; ++j) {
    // As torch: (arange(0, dim, 2).float() / dim), base ** that, then 1 / x,
    // all f32.
    const float exponent =
        static_cast<float>(2 * j) / static_cast<float>(rotary_dim);
    inv[j] = 1.0f / std::pow(theta, exponent);
  }
  if (s.type == "default" || s.type.empty()) return inv;
  if (!(s.factor > 0))
    return absl::InvalidArgumentError("rope_scaling.factor must be positive");
  if (s.type == "linear") {
    for (float& f : inv) f /= s.factor;
    return inv;
  }
  if (s.type == "llama3") {
    if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor) ||
        s.original_max_position_embeddings <= 0) {
      return absl::InvalidArgumentError(
          "invalid llama3 rope_scaling parameters");
    }
    const float old_len =
        static_cast<float>(s.original_max_position_embeddings);
    const float low_freq_wavelen = old_len / s.low_freq_factor;
    const float high_freq_wavelen = old_len / s.high_freq_factor;
    const float pi = 3.14159265358979323846f;
    for (float& f : inv) {
      const float wavelen = 2.0f * pi / f;
      if (wavelen > low_freq_wavelen) {
        f = f / s.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const float smooth = (old_len / wavelen - s.low_freq_factor) /
                             (s.high_freq_factor - s.low_freq_factor);
        f = (1.0f - smooth) * f / s.factor + smooth * f;
      }
    }
    return inv;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported rope_scaling type '", s.type, "'"));
}

}  // namespace infernum::kernels
