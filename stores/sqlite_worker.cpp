// The SQLite store's thread: takes what callers queued, writes it in one
// transaction with the confirms that failed before, answers the claims and
// marks, and purges expired keys now and then.
#include <algorithm>
#include <climits>

#include "sqlite_impl.hpp"

namespace topgg {

using namespace detail::sqlite;

void SqliteStore::Impl::run() {
  for (;;) {
    std::vector<Op> batch;
    std::uint64_t rejected_now;
    bool last;
    {
      std::unique_lock lock(m);
      for (;;) {
        if (!queue.empty() || stopping)
          break;
        auto wake = next_purge;
        if (outage.down()) // confirms that failed, or an empty transaction: is it over?
          wake = std::min(wake, Steady::now() + retry_interval);
        if (cv.wait_until(lock, wake) == std::cv_status::timeout)
          break;
      }
      batch.swap(queue);
      rejected_now = rejected;
      last = stopping;
    }
    if (!batch.empty()) {
      outage.used();
      overload.used();
    }
    if (rejected_now != rejected_seen) {
      overload.failed("queue full (" + std::to_string(opt.max_queue) + " operations waiting)");
      for (; rejected_seen < rejected_now; ++rejected_seen)
        overload.refused();
    } else if (!batch.empty()) {
      overload.worked();
    }
    if (!batch.empty() || !retry.empty() || outage.down()) // an empty batch: BEGIN IMMEDIATE, COMMIT
      write(batch);
    if (Steady::now() >= next_purge) {
      next_purge = Steady::now() + opt.purge_interval;
      if (latest_now != INT64_MIN) // no caller's time yet: nothing to compare expiries with
        expire();
    }
    if (last) {
      if (!retry.empty())
        report("sqlite " + path + ": " + std::to_string(retry.size()) +
               " confirmed keys could not be written before closing");
      return;
    }
  }
}

void SqliteStore::Impl::step_done(Run& r) {
  const int rc = r.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw SqliteError{sqlite3_errmsg(db)};
}

void SqliteStore::Impl::apply(Op& op) {
  switch (op.kind) {
  case Op::claim: apply_claim(op); return;
  case Op::confirm: {
    Run w(put_key);
    w.text(1, op.key);
    w.text(2, "done");
    w.integer(3, op.until);
    sqlite3_bind_null(put_key.get(), 4);
    step_done(w);
    return;
  }
  case Op::release: {
    Run w(release_key);
    w.text(1, op.key);
    w.text(2, token);
    step_done(w);
    return;
  }
  case Op::load_mark: {
    Run r(get_mark);
    r.text(1, op.key);
    const int rc = r.step();
    if (rc == SQLITE_ROW)
      op.until = r.column_int(0), op.found = true;
    else if (rc != SQLITE_DONE)
      throw SqliteError{sqlite3_errmsg(db)};
    return;
  }
  case Op::save_mark: {
    Run w(put_mark);
    w.text(1, op.key);
    w.integer(2, op.until);
    step_done(w);
    return;
  }
  case Op::call: op.run(db); return;
  default: apply_vote(op); return;
  }
}

/// Absent or lapsed: this claim takes the key; else it is answered done or in progress.
void SqliteStore::Impl::apply_claim(Op& op) {
  {
    Run r(select_key);
    r.text(1, op.key);
    const int rc = r.step();
    if (rc == SQLITE_ROW && r.column_int(1) > op.now) {
      op.result = r.column_text(0) == "done" ? ClaimResult::done : ClaimResult::in_progress;
      return;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      throw SqliteError{sqlite3_errmsg(db)};
  }
  Run w(put_key); // absent or lapsed: this claim takes it
  w.text(1, op.key);
  w.text(2, "claimed");
  w.integer(3, op.until);
  w.text(4, token);
  step_done(w);
  op.result = ClaimResult::claimed;
}

/// One transaction for the retried confirms and the whole batch.
void SqliteStore::Impl::write(std::vector<Op>& batch) {
  if (!retry.empty()) {
    batch.insert(batch.begin(), std::make_move_iterator(retry.begin()), std::make_move_iterator(retry.end()));
    retry.clear();
  }
  std::string error;
  try {
    {
      Run b(begin);
      step_done(b);
    }
    for (Op& op : batch) {
      latest_now = std::max(latest_now, op.now);
      apply(op);
    }
    Run c(commit);
    step_done(c);
  } catch (const SqliteError& e) {
    error = e.message;
    if (!sqlite3_get_autocommit(db)) { // some errors roll back by themselves
      Run r(rollback);
      r.step();
    }
  }
  if (error.empty())
    outage.worked();
  else
    outage.failed(error);
  finish_batch(batch, error);
}

/// Answers the batch's claims and marks; keeps its confirms for the next batch if it failed.
void SqliteStore::Impl::finish_batch(std::vector<Op>& batch, const std::string& error) {
  for (Op& op : batch) {
    switch (op.kind) {
    case Op::claim:
      if (!error.empty())
        outage.refused();
      complete(op.ticket, error.empty() ? op.result : ClaimResult::unavailable);
      break;
    case Op::confirm:
      if (!error.empty())
        retry.push_back(std::move(op));
      break;
    case Op::release: break; // on failure the lease lapses by itself
    case Op::load_mark:
      op.mark->finish(error.empty() && op.found ? std::optional(op.until) : std::nullopt, error);
      break;
    case Op::save_mark:
    case Op::call: op.mark->finish(std::nullopt, error); break;
    case Op::record:
    case Op::finish:
      if (!error.empty()) // kept, as confirms are
        retry.push_back(std::move(op));
      break;
    default: finish_vote(op, error); break;
    }
  }
  if (retry.size() > opt.max_queue) // an outage that lasts: forget the oldest
    retry.erase(retry.begin(), retry.begin() + static_cast<std::ptrdiff_t>(retry.size() - opt.max_queue));
}

void SqliteStore::Impl::expire() {
  Run r(purge);
  r.integer(1, latest_now);
  const int rc = r.step();
  if (rc == SQLITE_DONE)
    outage.worked();
  else
    outage.failed(sqlite3_errmsg(db));
}

void SqliteStore::Impl::complete(const ClaimTicket& t, ClaimResult r) {
  try {
    t.complete(r);
  } catch (const std::exception& e) {
    report(std::string("a claim's completion threw: ") + e.what());
  } catch (...) {
    report("a claim's completion threw");
  }
}

} // namespace topgg
