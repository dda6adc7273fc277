// Umbrella header: the sans-I/O core of topgg-webhook.
#pragma once

#include "topgg/ack.hpp"
#include "topgg/connection.hpp"
#include "topgg/driver.hpp"
#include "topgg/error.hpp"
#include "topgg/http.hpp"
#include "topgg/idempotency.hpp"
#include "topgg/metrics.hpp"
#include "topgg/query.hpp"
#include "topgg/router.hpp"
#include "topgg/settings.hpp"
#include "topgg/snowflake.hpp"
#include "topgg/v1.hpp"
#include "topgg/version.hpp"
#include "topgg/votes.hpp"
