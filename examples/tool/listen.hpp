// `topgg-webhook listen`: serve Top.gg webhooks, one JSON line per event.
#pragma once

namespace tool {

int listen_main(int argc, char** argv);

} // namespace tool
