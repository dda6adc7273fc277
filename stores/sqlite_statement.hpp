// Internal to the SQLite store: a prepared statement and one use of it, and
// the error a batch catches.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace topgg::detail::sqlite {

/// A prepared statement, reset after every use.
class Statement {
public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(Statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Statement& operator=(Statement&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  sqlite3_stmt* get() const noexcept { return s_; }

private:
  sqlite3_stmt* s_ = nullptr;
};

/// Binds, steps and resets one statement: `Run r(stmt); r.text(1, k); r.step()`.
class Run {
public:
  explicit Run(const Statement& s) noexcept : s_(s.get()) {}
  ~Run() { sqlite3_reset(s_); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  void text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void null(int i) { sqlite3_bind_null(s_, i); }
  int step() { return sqlite3_step(s_); }
  std::int64_t column_int(int i) const { return sqlite3_column_int64(s_, i); }
  bool column_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::string_view column_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string_view();
  }

private:
  sqlite3_stmt* s_;
};

/// Raised inside a batch: SQLite's message, caught by the batch.
struct SqliteError {
  std::string message;
};

} // namespace topgg::detail::sqlite
