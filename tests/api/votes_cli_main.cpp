// The `votes` command alone, so its tests do not depend on how topgg-webhook's main() dispatches.
#include <csignal>

#include "votes.hpp"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  return tool::votes_main(argc, argv);
}
