// WriteKvCache and PagedAttention over a paged KV cache in f32 (the default:
// the activation dtype) or bf16 (half the memory and bandwidth; keys and
// values are rounded to nearest even when written, widened exactly on read).
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/validate.h"

namespace infernum::kernels::cpu {
namespace {
constexpr auto kF32 = DType::kF32;
constexpr auto kI32 = DType::kI32;
// How many blocks ahead of its use a decode row's K/V block is prefetched.
constexpr int64_t kPrefetchBlocks = 2;

absl::Status CheckCaches(std::string_view op, const Tensor& k_cache,
                         const Tensor& v_cache) {
  RETURN_IF_ERROR(CheckTensor(op, "k_cache", k_cache, 4, {kF32, DType::kBF16}));
  RETURN_IF_ERROR(CheckTensor(op, "v_cache", v_cache, 4, {k_cache.dtype}));
  return CheckSameShape(op, "k_cache", k_cache, "v_cache", v_cache);
}

// Geometry of one PagedAttention call, checked against every index it reads.
struct AttentionPlan {
  int64_t num_tokens, num_heads, num_kv_heads, head_dim, block_size, max_blocks;
  int64_t rows_covered;          // query_start_loc[num_seqs].
  std::vector<int32_t> row_seq;  // Sequence of each covered query row.
  int64_t max_context = 0;       // Longest context any row attends to.
};

absl::Status CheckSequences(const PagedAttentionParams& p,
                            AttentionPlan& plan) {
  const int32_t* qsl = p.query_start_loc.as<int32_t>();
  const int32_t* seq_lens = p.seq_lens.as<int32_t>();
  const int32_t* tables = p.block_tables.as<int32_t>();
  const int64_t num_blocks = p.k_cache.dim(0);
  if (qsl[0] != 0) {
    return absl::InvalidArgumentError(
        "PagedAttention: query_start_loc[0] != 0");
  }
  for (int s = 0; s < p.num_seqs; ++s) {
    const int64_t q_len = static_cast<int64_t>(qsl[s + 1]) - qsl[s];
    const int64_t len = seq_lens[s];
    const auto bad = [&](std::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("PagedAttention: sequence ", s, " ", std::string(what),
                       " (query_len ", q_len, ", seq_len ", len, ")"));
    };
    if (q_len < 0 || qsl[s + 1] > plan.num_tokens) {
      return bad("has bad query_start_loc");
    }
    // seq_len 0 is padding: its rows' output is zero (see ops.h).
    if (q_len > len && len != 0) return bad("has more query rows than context");
    if (len > plan.max_blocks * plan.block_size) {
      return bad("overflows its block table");
    }
    if (p.max_seq_len > 0 && len > p.max_seq_len) {
      return bad("exceeds max_seq_len");
    }
    if (p.max_query_len > 0 && q_len > p.max_query_len) {
      return bad("exceeds max_query_len");
    }
    const int64_t used_blocks = (len + plan.block_size - 1) / plan.block_size;
    for (int64_t b = 0; b < used_blocks; ++b) {
      const int32_t block = tables[s * plan.max_blocks + b];
      if (block < 0 || block >= num_blocks) {
        return bad(absl::StrCat("uses bad block ", block));
      }
    }
    for (int32_t r = qsl[s]; r < qsl[s + 1]; ++r) plan.row_seq.push_back(s);
    if (q_len > 0) plan.max_context = std::max(plan.max_context, len);
  }
  plan.rows_covered = qsl[p.num_seqs];
  return absl::OkStatus();
}

absl::StatusOr<AttentionPlan> PlanAttention(const PagedAttentionParams& p) {
  constexpr std::string_view kOp = "PagedAttention";
  RETURN_IF_ERROR(CheckTensor(kOp, "q", p.q, 3, {kF32}));
  RETURN_IF_ERROR(CheckCaches(kOp, p.k_cache, p.v_cache));
  RETURN_IF_ERROR(CheckTensor(kOp, "block_tables", p.block_tables, 2, {kI32}));
  RETURN_IF_ERROR(
      CheckTensor(kOp, "query_start_loc", p.query_start_loc, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "seq_lens", p.seq_lens, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 3, {kF32}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "q", p.q, "out", p.out));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "q", p.q, "out", p.out));
  RETURN_IF_ERROR(CheckDim(kOp, "seq_lens", p.seq_lens, 0, p.num_seqs));
  RETURN_IF_ERROR(
      CheckDim(kOp, "query_start_loc", p.query_start_loc, 0, p.num_seqs + 1));
  RETURN_IF_ERROR(CheckDim(kOp, "block_tables", p.block_tables, 0, p.num_seqs));
  RETURN_IF_ERROR(CheckDim(kOp, "k_cache", p.k_cache, 3, p.q.dim(2)));
  AttentionPlan plan;
  plan.num_tokens = p.q.dim(0);
  plan.num_heads = p.q.dim(1);
  plan.head_dim = p.q.dim(2);
  plan.block_size = p.k_cache.dim(1);
  plan.num_kv_heads = p.k_cache.dim(2);
  plan.max_blocks = p.block_tables.dim(1);
  if (plan.num_kv_heads == 0 || plan.num_heads % plan.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PagedAttention: ", plan.num_heads,
        " query heads are not a multiple of ", plan.num_kv_heads, " kv heads"));
  }
  if (plan.block_size == 0) {
    return absl::InvalidArgumentError("PagedAttention: block_size 0");
  }
  RETURN_IF_ERROR(CheckSequences(p, plan));
  return plan;
}

// Where query row `row` reads the cache: its sequence's block table and
// context, and the run of KV heads [kvh0, kvh0 + num_kvh) it covers.
struct RowView {
  const int32_t* table;
  int64_t context, kvh0, num_kvh;
  int64_t block_size, row_elems;  // Elements per cache row: nkv * hd.
  size_t elem;                    // Bytes per cache element.
  // The row is its sequence's only query row (decode): its blocks come from
  // memory. Rows of a longer query (prefill) share their blocks, which stay
  // cached, so they are not prefetched.
  bool streamed;

  // Positions [t0, t0 + block_size) of a block are block_size rows of
  // row_elems elements; the run of KV heads starts kvh0 * hd into each.
  const char* BlockStart(const Tensor& cache, int64_t t0, int64_t hd) const {
    const int64_t element =
        static_cast<int64_t>(table[t0 / block_size]) * block_size * row_elems +
        kvh0 * hd;
    return static_cast<const char*>(cache.data) + element * elem;
  }
  // Prefetches part `part` of `parts` of the block at t0 (nothing past the
  // context): a contiguous block is cut into `parts` runs of whole lines;
  // otherwise part p covers the block's tokens p, p + parts, ...
  void Prefetch(const Tensor& cache, int64_t t0, int64_t hd, int64_t part,
                int64_t parts) const {
    if (t0 >= context) return;
    const char* start = BlockStart(cache, t0, hd);
    const int64_t count = std::min(block_size, context - t0);
    const int64_t run_bytes = num_kvh * hd * elem;
    if (num_kvh * hd == row_elems) {  // The block's rows are contiguous.
      const int64_t lines = (count * run_bytes + 63) / 64;
      const int64_t end = (part + 1) * lines / parts;
      for (int64_t l = part * lines / parts; l < end; ++l) {
        PrefetchL1(start + l * 64);
      }
      return;
    }
    for (int64_t t = part; t < count; t += parts) {
      for (int64_t b = 0; b < run_bytes; b += 64) {
        PrefetchL1(start + t * row_elems * elem + b);
      }
    }
  }
  int64_t num_blocks() const { return (context + block_size - 1) / block_size; }
};

// A decode row's blocks are scattered in a cache far larger than the CPU
// caches, so they are prefetched kPrefetchBlocks ahead of their use, in the
// order they are read: the item's K blocks, its V blocks, then the K blocks
// of the next item (when known). The prefetches of a block are spread over
// the reads of the block kPrefetchBlocks before it (one part per KV head
// read), since a burst of prefetches stalls the loads. Rows that are not
// `streamed` prefetch nothing.
class BlockPrefetcher {
 public:
  // `prefetched`: whether the previous item prefetched this one's first
  // blocks.
  BlockPrefetcher(const PagedAttentionParams& p, const RowView& view,
                  const RowView* next, int64_t hd, bool prefetched)
      : p_(p),
        view_(view),
        next_(next != nullptr && next->streamed ? next : nullptr),
        hd_(hd),
        nb_(view.num_blocks()) {
    if (view_.streamed && !prefetched) {
      for (int64_t i = 0; i < kPrefetchBlocks; ++i) Issue(i, 0, 1);
    }
  }
  // Called before reading KV head `h` (of num_kvh) of the item's block
  // `index` (K blocks are 0..nb-1, V blocks nb..2nb-1).
  void Advance(int64_t index, int64_t h) const {
    if (view_.streamed) Issue(index + kPrefetchBlocks, h, view_.num_kvh);
  }

 private:
  void Issue(int64_t i, int64_t part, int64_t parts) const {
    const int64_t bs = view_.block_size;
    if (i < nb_) return view_.Prefetch(p_.k_cache, i * bs, hd_, part, parts);
    if (i < 2 * nb_) {
      return view_.Prefetch(p_.v_cache, (i - nb_) * bs, hd_, part, parts);
    }
    if (next_ != nullptr) {
      next_->Prefetch(p_.k_cache, (i - 2 * nb_) * bs, hd_, part, parts);
    }
  }

  const PagedAttentionParams& p_;
  const RowView& view_;
  const RowView* next_;
  const int64_t hd_, nb_;
};

RowView MakeRowView(const PagedAttentionParams& p, const AttentionPlan& plan,
                    int64_t row, int64_t kvh0, int64_t num_kvh) {
  const int32_t s = plan.row_seq[row];
  const int32_t* qsl = p.query_start_loc.as<int32_t>();
  const int64_t q_len = qsl[s + 1] - qsl[s];
  RowView v;
  v.table = p.block_tables.as<int32_t>() + s * plan.max_blocks;
  v.context = p.seq_lens.as<int32_t>()[s] - q_len + (row - qsl[s]) + 1;
  v.kvh0 = kvh0;
  v.num_kvh = num_kvh;
  v.block_size = plan.block_size;
  v.row_elems = plan.num_kv_heads * plan.head_dim;
  v.elem = DTypeSize(p.k_cache.dtype);
  v.streamed = q_len == 1;
  return v;
}

// Attention of one query row for the query heads of KV heads [kvh0, kvh0 +
// num_kvh) (`group` query heads each). Per query head the arithmetic is
// fixed (scores block by block, one softmax, values block by block), so the
// grouping of heads into calls never changes results. Walking the KV heads
// inside each block reads every cache row in full, in order. scratch holds
// num_kvh * group * (context + head_dim + 1) floats.
void AttendHeads(const CpuContext& ctx, const PagedAttentionParams& p,
                 const AttentionPlan& plan, const RowView& view,
                 const RowView* next, bool prefetched, int64_t row,
                 float* scratch) {
  const VecKernels& vec = *ctx.vec;
  const int64_t kvh0 = view.kvh0, num_kvh = view.num_kvh;
  const int64_t hd = plan.head_dim, bs = plan.block_size;
  const int64_t context = view.context;
  const int64_t group = plan.num_heads / plan.num_kv_heads;
  const int64_t heads = num_kvh * group;
  const int64_t head_offset = (row * plan.num_heads + kvh0 * group) * hd;
  if (context <= 0) {  // A padding sequence (seq_len 0) attends to nothing.
    std::fill_n(p.out.as<float>() + head_offset, heads * hd, 0.0f);
    return;
  }
  BlockPrefetcher prefetcher(p, view, next, plan.head_dim, prefetched);
  float* scores = scratch;                 // [heads][context]
  float* acc = scratch + heads * context;  // [heads][hd]
  float* inv_sum = acc + heads * hd;       // [heads]
  const float* q = p.q.as<float>() + head_offset;
  AttnBlock block{
      nullptr,        group, hd,     nullptr, p.k_cache.dtype == DType::kBF16,
      view.row_elems, 0,     p.scale};
  const int64_t nb = view.num_blocks();
  for (int64_t t0 = 0; t0 < context; t0 += bs) {
    const char* kv = view.BlockStart(p.k_cache, t0, hd);
    block.count = std::min(bs, context - t0);
    for (int64_t h = 0; h < num_kvh; ++h) {
      prefetcher.Advance(t0 / bs, h);
      block.q = q + h * group * hd;
      block.kv = kv + h * hd * view.elem;
      vec.attn_scores(block, scores + h * group * context + t0, context);
    }
  }
  for (int64_t g = 0; g < heads; ++g) {
    float* sg = scores + g * context;
    inv_sum[g] =
        1.0f / vec.exp_shift_sum(sg, vec.max(sg, context), sg, context);
  }
  std::fill(acc, acc + heads * hd, 0.0f);
  for (int64_t t0 = 0; t0 < context; t0 += bs) {
    const char* kv = view.BlockStart(p.v_cache, t0, hd);
    block.count = std::min(bs, context - t0);
    for (int64_t h = 0; h < num_kvh; ++h) {
      prefetcher.Advance(nb + t0 / bs, h);
      block.kv = kv + h * hd * view.elem;
      vec.attn_values(scores + h * group * context + t0, context, block,
                      acc + h * group * hd);
    }
  }
  float* out = p.out.as<float>() + head_offset;
  for (int64_t g = 0; g < heads; ++g) {
    vec.scale(acc + g * hd, inv_sum[g], out + g * hd, hd);
  }
}

}  // namespace

absl::Status WriteKvCache(const CpuContext& ctx, const WriteKvCacheParams& p) {
  constexpr std::string_view kOp = "WriteKvCache";
  RETURN_IF_ERROR(CheckTensor(kOp, "k", p.k, 3, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "v", p.v, 3, {kF32}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "k", p.k, "v", p.v));
  RETURN_IF_ERROR(CheckCaches(kOp, p.k_cache, p.v_cache));
  RETURN_IF_ERROR(CheckDim(kOp, "k_cache", p.k_cache, 2, p.k.dim(1)));
  RETURN_IF_ERROR(CheckDim(kOp, "k_cache", p.k_cache, 3, p.k.dim(2)));
  RETURN_IF_ERROR(CheckTensor(kOp, "slot_mapping", p.slot_mapping, 1, {kI32}));
  RETURN_IF_ERROR(CheckDim(kOp, "slot_mapping", p.slot_mapping, 0, p.k.dim(0)));
  const int64_t n = p.k.dim(0);
  const int64_t num_slots = p.k_cache.dim(0) * p.k_cache.dim(1);
  const int64_t row = p.k.row_size();
  const int32_t* slots = p.slot_mapping.as<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] >= num_slots) {
      return absl::InvalidArgumentError(
          absl::StrCat("WriteKvCache: slot_mapping[", i, "] = ", slots[i],
                       " >= ", num_slots, " slots"));
    }
  }
  const DType cache_dtype = p.k_cache.dtype;
  const size_t cache_row_bytes = row * DTypeSize(cache_dtype);
  auto* k_cache = static_cast<char*>(p.k_cache.data);
  auto* v_cache = static_cast<char*>(p.v_cache.data);
  // f32 rows are copied; bf16 rows rounded by the ISA's to_bf16.
  const auto write = [&](const float* src, char* dst) {
    if (cache_dtype == DType::kBF16) {
      ctx.vec->to_bf16(src, reinterpret_cast<uint16_t*>(dst), row);
    } else {
      ConvertElements(src, kF32, dst, cache_dtype, row);
    }
  };
  ParallelRows(ctx, n, row, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (slots[i] < 0) continue;
      write(p.k.as<float>() + i * row, k_cache + slots[i] * cache_row_bytes);
      write(p.v.as<float>() + i * row, v_cache + slots[i] * cache_row_bytes);
    }
  });
  return absl::OkStatus();
}

absl::Status PagedAttention(const CpuContext& ctx,
                            const PagedAttentionParams& p) {
  ASSIGN_OR_RETURN(const AttentionPlan plan, PlanAttention(p));
  const int64_t nkv = plan.num_kv_heads;
  const int64_t group = plan.num_heads / nkv;
  const int64_t row_size = plan.num_heads * plan.head_dim;
  // Rows no sequence owns are zeroed so the output is fully defined.
  std::fill(p.out.as<float>() + plan.rows_covered * row_size,
            p.out.as<float>() + plan.num_tokens * row_size, 0.0f);
  // Work items are (row, run of KV heads): whole rows when there are enough
  // of them to keep every thread busy, else single KV heads.
  const int64_t threads = ctx.pool->num_threads();
  const int64_t kvh_per_item = plan.rows_covered >= 4 * threads ? nkv : 1;
  const int64_t items_per_row = nkv / kvh_per_item;
  const int64_t items = plan.rows_covered * items_per_row;
  const int64_t scratch_floats =
      kvh_per_item * group * (plan.max_context + plan.head_dim + 1);
  const int64_t grain = std::max<int64_t>(
      1, 4096 / std::max<int64_t>(1, plan.max_context * kvh_per_item));
  ScratchPool::Lease scratch = ctx.scratch->Acquire(scratch_floats * threads);
  ParallelDynamic(
      ctx, items, grain, [&](int thread, int64_t begin, int64_t end) {
        float* mine = scratch.data() + thread * scratch_floats;
        const auto view_of = [&](int64_t item) {
          return MakeRowView(p, plan, item / items_per_row,
                             item % items_per_row * kvh_per_item, kvh_per_item);
        };
        RowView view = view_of(begin);
        for (int64_t item = begin; item < end; ++item) {
          const RowView next = item + 1 < end ? view_of(item + 1) : view;
          AttendHeads(ctx, p, plan, view, item + 1 < end ? &next : nullptr,
                      item > begin && view.streamed, item / items_per_row,
                      mine);
          view = next;
        }
      });
  return absl::OkStatus();
}

}  // namespace infernum::kernels::cpu
