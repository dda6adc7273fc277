// Symbol visibility: the library is built with hidden symbols; TOPGG_API
// marks what it exports.
#pragma once

#if defined(_WIN32)
#define TOPGG_API
#else
#define TOPGG_API __attribute__((visibility("default")))
#endif
