// rubric: YAML from untrusted hands is bounded before it is walked — its aliases let a few
// hundred bytes name billions of nodes ("billion laughs"), and deep nesting exhausts the
// stack of any recursive reader.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

namespace YAML { class Node; }

namespace mlops::rubric {

// nullopt when `root`, its aliases expanded, has at most `max_nodes` nodes nested at most
// `max_depth` deep; else which bound it passes ("more than 100000 YAML nodes once aliases
// are expanded"). Stops counting at the first bound passed.
std::optional<std::string> yaml_out_of_bounds(const YAML::Node& root, std::size_t max_nodes, int max_depth);

}  // namespace mlops::rubric
