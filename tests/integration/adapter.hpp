// The adapter a test program is built for: compiled once with TOPGG_TEST_UV
// and once with TOPGG_TEST_ASIO, the same test cases run against each.
#pragma once

#if defined(TOPGG_TEST_UV)
#include <uv.h>

#include "topgg/uv.hpp"
using Manager = topgg::uv::WebhookManager;
#elif defined(TOPGG_TEST_ASIO)
#include "topgg/asio.hpp"
using Manager = topgg::asio::WebhookManager;
#else
#error "define TOPGG_TEST_UV or TOPGG_TEST_ASIO"
#endif
