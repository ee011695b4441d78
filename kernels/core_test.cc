#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/rope.h"
#include "kernels/tensor.h"

namespace infernum::kernels {
namespace {

TEST(DTypeTest, Bf16RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -2.5f, 3.140625f, 65536.0f, 0.0078125f}) {
    EXPECT_EQ(Bf16ToF32(F32ToBf16(f)), f) << f;  // Exactly representable.
  }
  // 1 + 2^-8 is halfway between two bf16 values: round to even (1.0).
  EXPECT_EQ(Bf16ToF32(F32ToBf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(NAN))));
}

TEST(DTypeTest, F16RoundTrip) {
  for (float f :
       {0.0f, 1.0f, -2.5f, 65504.0f, 0.000061035156f, 5.9604645e-08f}) {
    EXPECT_EQ(F16ToF32(F32ToF16(f)), f) << f;
  }
  EXPECT_TRUE(std::isinf(F16ToF32(F32ToF16(1e6f))));
  EXPECT_EQ(F16ToF32(F32ToF16(1.0f + 1.0f / 4096)), 1.0f);  // Ties to even.
}

TEST(TensorTest, RowsAndReshape) {
  std::vector<float> data(24);
  Tensor t(data.data(), DType::kF32, {4, 6});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.row_size(), 6);
  Tensor r = t.Rows(1, 2);
  EXPECT_EQ(r.as<float>(), data.data() + 6);
  EXPECT_EQ(r.dim(0), 2);
  EXPECT_EQ(t.Reshape({4, 2, 3}).dim(-1), 3);
  EXPECT_EQ(t.DebugString(), "f32[4, 6]");
}

TEST(RopeTest, DefaultLinearLlama3) {
  auto def = ComputeRopeInvFreq(10000.0f, 8, {});
  ASSERT_TRUE(def.ok());
  EXPECT_FLOAT_EQ((*def)[0], 1.0f);
  EXPECT_NEAR((*def)[1], std::pow(10000.0, -0.25), 1e-7);
  RopeScaling lin{"linear", 4.0f};
  EXPECT_FLOAT_EQ((*ComputeRopeInvFreq(10000.0f, 8, lin))[1], (*def)[1] / 4);
  // llama3 at Llama-3.1 settings: high frequencies unchanged, low divided.
  RopeScaling l3{"llama3", 8.0f, 1.0f, 4.0f, 8192};
  auto base = *ComputeRopeInvFreq(500000.0f, 128, {});
  auto scaled = *ComputeRopeInvFreq(500000.0f, 128, l3);
  EXPECT_FLOAT_EQ(scaled[0], base[0]);
  EXPECT_FLOAT_EQ(scaled[63], base[63] / 8);
  EXPECT_FALSE(ComputeRopeInvFreq(1e4f, 8, RopeScaling{"yarn", 2.0f}).ok());
  EXPECT_FALSE(ComputeRopeInvFreq(1e4f, 7, {}).ok());
}

}  // namespace
}  // namespace infernum::kernels
