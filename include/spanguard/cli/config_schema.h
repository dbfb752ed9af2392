// The configuration schema of the whole sensor: every module's ParamSection, in data-path order.
#pragma once

#include <vector>

#include "spanguard/core/config.h"

namespace spanguard::cli {

std::vector<const core::ParamSection*> config_schema();

}  // namespace spanguard::cli
