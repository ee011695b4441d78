#include "cli/bench_device_cost.h"

namespace infernum::cli {

double DecodeWeightBytesPerStep(const models::LlamaWeights& w) {
  double bytes = 0;
  for (const models::LlamaLayerWeights& l : w.layers) {
    for (const models::Weight* p : {&l.input_norm, &l.qkv, &l.o_proj,
                                    &l.post_norm, &l.gate_up, &l.down}) {
      bytes += static_cast<double>(p->tensor.nbytes());
    }
  }
  bytes += static_cast<double>(w.final_norm.tensor.nbytes());
  bytes += static_cast<double>(w.lm_head.tensor.nbytes());
  const kernels::Tensor& e = w.embed.tensor;
  if (e.defined() && e.ndim >= 1 && e.dim(0) > 0) {
    bytes += static_cast<double>(e.nbytes()) / static_cast<double>(e.dim(0));
  }
  return bytes;
}

int64_t KvBytesPerContextToken(const models::ModelConfig& c,
                               kernels::DType kv_dtype) {
  return int64_t{2} * c.num_hidden_layers * c.num_key_value_heads * c.head_dim *
         static_cast<int64_t>(kernels::DTypeSize(kv_dtype));
}

double MeanDecodeContext(int prompt_len, int decode_len) {
  return prompt_len + (decode_len + 1) / 2.0;
}

double PrefillFlops(const models::ModelConfig& c, int64_t num_tokens,
                    int64_t num_logit_rows) {
  const double h = c.hidden_size, inter = c.intermediate_size;
  const double q = c.q_size(), kv = c.kv_size();
  const double layers = c.num_hidden_layers;
  const double n = static_cast<double>(num_tokens);
  const double per_layer_params =
      h * (q + 2 * kv) + q * h + h * 2 * inter + inter * h;
  const double matmul =
      2.0 * n * layers * per_layer_params +
      2.0 * static_cast<double>(num_logit_rows) * h * c.vocab_size;
  const double attention =
      4.0 * c.num_attention_heads * c.head_dim * layers * n * (n + 1) / 2.0;
  return matmul + attention;
}

}  // namespace infernum::cli
