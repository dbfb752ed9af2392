// Collects the modules' configuration tables; `cli` is the one module that knows them all.
#include "spanguard/cli/config_schema.h"

#include "spanguard/applayer/app_layer.h"
#include "spanguard/capture/source.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/decode/defrag.h"
#include "spanguard/detect/engine.h"
#include "spanguard/flow/flow_table.h"
#include "spanguard/ops/control.h"
#include "spanguard/ops/metrics_server.h"
#include "spanguard/ops/privileges.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/pipeline/engine.h"
#include "spanguard/respond/responder.h"
#include "spanguard/rules/parser.h"
#include "spanguard/stream/reassembler.h"

namespace spanguard::cli {

namespace {

constexpr core::Param kLoggingParams[] = {
    {.name = "level",
     .type = core::ParamType::kEnum,
     .default_value = "info",
     .help = "Least severe message logged (--log-level overrides)",
     .choices = "trace|debug|info|warn|error|critical|off"},
    {.name = "format",
     .type = core::ParamType::kEnum,
     .default_value = "text",
     .help = "text for people, json for journald and log shippers: one object per line with "
             "timestamp, level, logger, message (--log-format overrides)",
     .choices = "text|json"},
};
constexpr core::ParamSection kLoggingSection{"logging", "Diagnostics on stderr", kLoggingParams};

}  // namespace

std::vector<const core::ParamSection*> config_schema() {
  return {
      &capture::capture_params(),     &decode::decode_params(),     &decode::defrag_params(),
      &flow::flow_params(),           &stream::stream_params(),     &applayer::applayer_params(),
      &rules::rules_params(),         &detect::detect_params(),     &respond::respond_params(),
      &output::alert_stream_params(), &pipeline::pipeline_params(), &ops::metrics_params(),
      &ops::control_params(),         &ops::privilege_params(),     &kLoggingSection};
}

}  // namespace spanguard::cli
