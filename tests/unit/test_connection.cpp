#include "harness.hpp"

using namespace th;

TEST_CASE("bot vote with the right key is delivered and answered 200") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "secret-key", bot_body));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0] == "bot 264811613708746752 user 160105994217586689 upvote [ref=home]");
  CHECK_FALSE(t.finished);
}
