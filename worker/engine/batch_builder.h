// Flattens a SchedulerOutput into the model's input contract
// (models/forward_batch.h). The ModelRunner calls this once per step; it is
// a pure function, kept here to prove the scheduler's output carries
// everything a forward pass needs.
#pragma once

#include "models/forward_batch.h"
#include "worker/engine/scheduler.h"

namespace infernum::worker {

// Sequence s of the batch is output.seqs[s]; its rows are its token_ids in
// order. logits_indices lists the last row of every sequence with
// sample == true, in seqs order, so sampled token k belongs to the k-th
// sampling sequence. Block-table rows hold ceil(seq_len / block_size) blocks
// (padded with 0 to the longest). An empty output gives an empty batch.
models::ForwardBatch BuildForwardBatch(const SchedulerOutput& output);

}  // namespace infernum::worker
