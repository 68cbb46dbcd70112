#include "libmlops/rubric/yaml_bounds.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace mlops::rubric {
namespace {

enum class Passed { none, nodes, depth };

Passed walk(const YAML::Node& n, std::size_t& budget, int depth_left) {
  if (budget == 0) return Passed::nodes;
  --budget;
  if (!n.IsMap() && !n.IsSequence()) return Passed::none;
  if (depth_left == 0) return Passed::depth;
  for (const auto& item : n) {
    // A map's items are key/value pairs; a sequence's are nodes.
    const Passed p = n.IsMap() ? walk(item.second, budget, depth_left - 1) : walk(item, budget, depth_left - 1);
    if (p != Passed::none) return p;
    if (n.IsMap()) {
      const Passed k = walk(item.first, budget, depth_left - 1);
      if (k != Passed::none) return k;
    }
  }
  return Passed::none;
}

}  // namespace

std::optional<std::string> yaml_out_of_bounds(const YAML::Node& root, std::size_t max_nodes, int max_depth) {
  std::size_t budget = max_nodes;
  switch (walk(root, budget, max_depth)) {
    case Passed::nodes: return fmt::format("more than {} YAML nodes once aliases are expanded", max_nodes);
    case Passed::depth: return fmt::format("YAML nested deeper than {} levels", max_depth);
    case Passed::none: break;
  }
  return std::nullopt;
}

}  // namespace mlops::rubric
