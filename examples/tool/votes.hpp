// `topgg-webhook votes`: Top.gg's vote history as JSON lines (the API client, library topgg-webhook-api).
#pragma once

namespace tool {

/// argv as main's, argv[1] == "votes". Returns the exit code: 0 done, 1 failed, 2 usage error.
/// Without the API library (built without libcurl) it says so and returns 1.
int votes_main(int argc, char** argv);

} // namespace tool
