// Builds the ModelInfo message (worker.proto) a router needs to serve the
// model: limits, stop ids and the tokenizer / chat-template files read from
// the model directory.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "proto/infernum/v1/worker.pb.h"
#include "worker/model_setup.h"

namespace infernum::worker {

struct ModelInfoParams {
  std::string model_dir;  // May be empty (dummy weights from a config.json).
  std::string served_model_name;
  std::string worker_id;
  int max_context_length = 0;
  int block_size = 0;
  int max_num_seqs = 0;
};

// eos_token_ids = the config's eos ids (config.json then
// generation_config.json); extra_stop_token_ids = the rest of
// DefaultStopTokenIds(loaded) (tokenizer eos, BOS). File contents are copied
// verbatim; missing optional files leave the field empty. chat_template comes
// from tokenizer_config.json "chat_template" (a string, or the "default" entry
// of a list of {name, template}), else chat_template.jinja, else
// chat_template.json. InvalidArgument if tokenizer_config.json is not valid
// JSON; NotFound never (all files are optional here).
absl::StatusOr<v1::ModelInfo> BuildModelInfo(const LoadedModel& loaded,
                                             const ModelInfoParams& params);

}  // namespace infernum::worker
