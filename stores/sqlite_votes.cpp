// The SQLite store's vote ledger: callers queue an Op, the store's thread
// runs it inside its next batch's transaction. A vote is recorded in the
// transaction that confirms its key, and only if that key was not done
// already: a retry or a twin confirmed twice is recorded once.
#include <climits>
#include <stdexcept>

#include "sqlite_impl.hpp"

namespace topgg {

using namespace detail::sqlite;

namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) noexcept {
  return std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
}
std::int64_t micros(v1::Timestamp t) noexcept { return t.time_since_epoch().count(); }
v1::Timestamp timestamp(std::int64_t us) noexcept { return v1::Timestamp(std::chrono::microseconds(us)); }

std::shared_ptr<VoteOp> vote_op(Op& op) {
  op.vote = std::make_shared<VoteOp>();
  return op.vote;
}

} // namespace

// ---- callers' side ---------------------------------------------------------

void SqliteStore::Votes::record(std::string_view key, Now now, std::chrono::milliseconds ttl, const VoteEntry& vote,
                                std::chrono::seconds grace) {
  const std::int64_t t = unix_ms(now.wall);
  const std::int64_t until = ttl.count() <= 0 ? t : (t > INT64_MAX - ttl.count() ? INT64_MAX : t + ttl.count());
  Op op(Op::record, key, t, until);
  auto v = vote_op(op);
  v->entry = vote;
  v->grace_s = grace.count();
  impl->push(std::move(op), false); // follows an admitted claim, as a confirm does
}

void SqliteStore::Votes::find(const VoteSubject& subject, std::string_view user,
                              std::function<void(std::optional<VoteRecord>, bool)> done) {
  Op op(Op::find, {}, INT64_MIN, 0);
  auto v = vote_op(op);
  v->subject = detail::subject_text(subject);
  v->user.assign(user);
  v->found = done;
  if (!impl->push(std::move(op), true)) // the queue is full: as unavailable as a failed batch
    done(std::nullopt, false);
}

void SqliteStore::Votes::subjects(std::function<void(std::vector<VoteSubject>, bool)> done) {
  Op op(Op::subjects, {}, INT64_MIN, 0);
  vote_op(op)->listed = done;
  if (!impl->push(std::move(op), true))
    done({}, false);
}

std::vector<DueExpiry> SqliteStore::Votes::take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                                    std::string_view token) {
  Op op(Op::take_due, {}, INT64_MIN, micros(now));
  auto v = vote_op(op);
  v->limit = limit;
  v->lease_until = micros(lease_until);
  v->token.assign(token);
  impl->call_mark(std::move(op)); // throws when the batch failed
  return std::move(v->due);
}

std::optional<v1::Timestamp> SqliteStore::Votes::next_due() {
  Op op(Op::next_due, {}, INT64_MIN, 0);
  vote_op(op); // every ledger Op carries one: apply_vote() and finish_vote() read it whatever the kind
  auto call = impl->call_mark(std::move(op));
  if (!call->micros)
    return std::nullopt;
  return timestamp(*call->micros);
}

void SqliteStore::Votes::finish(const DueExpiry& e, std::string_view token, bool delivered, v1::Timestamp retry_at) {
  Op op(Op::finish, {}, INT64_MIN, 0);
  auto v = vote_op(op);
  v->subject = detail::subject_text(e.subject);
  v->user = e.user;
  v->token.assign(token);
  v->delivered = delivered;
  v->expires_at = micros(e.record.expires_at);
  v->retry_at = micros(retry_at);
  impl->push(std::move(op), false);
}

// ---- the store's thread ----------------------------------------------------

void SqliteStore::Impl::prepare_vote_statements() {
  select_vote = Statement(db, "SELECT route, voted_at, expires_at, weight, streak, count, due, attempts, token "
                              "FROM votes WHERE subject = ?1 AND user = ?2");
  put_vote = Statement(db, "INSERT OR REPLACE INTO votes (subject, user, route, voted_at, expires_at, weight, streak, "
                           "count, due, attempts, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  add_subject = Statement(db, "INSERT OR IGNORE INTO vote_subjects (subject) VALUES (?1)");
  list_subjects = Statement(db, "SELECT subject FROM vote_subjects ORDER BY subject");
  due_votes = Statement(db, "SELECT subject, user, route, voted_at, expires_at, weight, streak, count, attempts "
                            "FROM votes WHERE due <= ?1 ORDER BY due LIMIT ?2");
  claim_vote = Statement(db, "UPDATE votes SET due = ?3, token = ?4 WHERE subject = ?1 AND user = ?2");
  first_due = Statement(db, "SELECT min(due) FROM votes WHERE due IS NOT NULL");
  vote_delivered = Statement(db, "UPDATE votes SET due = NULL, attempts = 0, token = NULL "
                                 "WHERE subject = ?1 AND user = ?2 AND token = ?3 AND expires_at = ?4");
  vote_retry = Statement(db, "UPDATE votes SET due = ?5, attempts = attempts + 1, token = NULL "
                             "WHERE subject = ?1 AND user = ?2 AND token = ?3 AND expires_at = ?4");
}

/// One vote added to its row (record_vote's rules): its expiry owed if it is the newest.
void SqliteStore::Impl::record_row(const VoteOp& v) {
  const VoteEntry& e = v.entry;
  const std::string subject = detail::subject_text(e.subject);
  std::optional<VoteRecord> previous;
  std::optional<std::int64_t> due;
  std::int64_t attempts = 0;
  std::optional<std::string> holder;
  {
    Run r(select_vote);
    r.text(1, subject);
    r.text(2, e.user);
    const int rc = r.step();
    if (rc == SQLITE_ROW) {
      previous = VoteRecord{std::string(r.column_text(0)),
                            timestamp(r.column_int(1)),
                            timestamp(r.column_int(2)),
                            r.column_int(3),
                            static_cast<std::uint32_t>(r.column_int(4)),
                            static_cast<std::uint64_t>(r.column_int(5))};
      if (!r.column_null(6))
        due = r.column_int(6);
      attempts = r.column_int(7);
      if (!r.column_null(8))
        holder = std::string(r.column_text(8));
    } else if (rc != SQLITE_DONE) {
      throw SqliteError{sqlite3_errmsg(db)};
    }
  }
  const RecordedVote next = ::topgg::record_vote(previous, e, std::chrono::seconds(v.grace_s));
  if (next.newest) { // its expiry replaces the one owed (claimed or being retried too)
    due = micros(next.record.expires_at);
    attempts = 0;
    holder.reset();
  }
  Run w(put_vote);
  w.text(1, subject);
  w.text(2, e.user);
  w.text(3, next.record.route);
  w.integer(4, micros(next.record.voted_at));
  w.integer(5, micros(next.record.expires_at));
  w.integer(6, next.record.weight);
  w.integer(7, next.record.streak);
  w.integer(8, static_cast<std::int64_t>(next.record.count));
  if (due)
    w.integer(9, *due);
  else
    w.null(9);
  w.integer(10, attempts);
  if (holder)
    w.text(11, *holder);
  else
    w.null(11);
  step_done(w);
  if (!previous) {
    Run a(add_subject);
    a.text(1, subject);
    step_done(a);
  }
}

void SqliteStore::Impl::apply_vote(Op& op) {
  VoteOp& v = *op.vote;
  switch (op.kind) {
  case Op::record: {
    bool first = true; // the key's first confirm: the vote is not recorded yet
    if (!op.key.empty()) {
      {
        Run r(select_key);
        r.text(1, op.key);
        const int rc = r.step();
        if (rc == SQLITE_ROW)
          first = !(r.column_text(0) == "done" && r.column_int(1) > op.now);
        else if (rc != SQLITE_DONE)
          throw SqliteError{sqlite3_errmsg(db)};
      }
      Run w(put_key);
      w.text(1, op.key);
      w.text(2, "done");
      w.integer(3, op.until);
      w.null(4);
      step_done(w);
    }
    if (first)
      record_row(v);
    return;
  }
  case Op::find: {
    Run r(select_vote);
    r.text(1, v.subject);
    r.text(2, v.user);
    const int rc = r.step();
    if (rc == SQLITE_ROW)
      v.record = VoteRecord{std::string(r.column_text(0)),
                            timestamp(r.column_int(1)),
                            timestamp(r.column_int(2)),
                            r.column_int(3),
                            static_cast<std::uint32_t>(r.column_int(4)),
                            static_cast<std::uint64_t>(r.column_int(5))};
    else if (rc != SQLITE_DONE)
      throw SqliteError{sqlite3_errmsg(db)};
    return;
  }
  case Op::subjects: {
    v.subjects.clear();
    Run r(list_subjects);
    int rc;
    while ((rc = r.step()) == SQLITE_ROW) {
      VoteSubject s;
      if (detail::parse_subject_text(r.column_text(0), s))
        v.subjects.push_back(std::move(s));
    }
    if (rc != SQLITE_DONE)
      throw SqliteError{sqlite3_errmsg(db)};
    return;
  }
  case Op::take_due: {
    v.due.clear();
    std::vector<std::string> subjects; // as stored, for the updates
    {
      Run r(due_votes);
      r.integer(1, op.until);
      r.integer(2, static_cast<std::int64_t>(std::min<std::size_t>(v.limit, INT64_MAX)));
      int rc;
      while ((rc = r.step()) == SQLITE_ROW) {
        DueExpiry d;
        if (!detail::parse_subject_text(r.column_text(0), d.subject))
          continue; // not written by this library: left alone
        subjects.emplace_back(r.column_text(0));
        d.user = r.column_text(1);
        d.record = VoteRecord{std::string(r.column_text(2)),
                              timestamp(r.column_int(3)),
                              timestamp(r.column_int(4)),
                              r.column_int(5),
                              static_cast<std::uint32_t>(r.column_int(6)),
                              static_cast<std::uint64_t>(r.column_int(7))};
        d.attempts = static_cast<std::uint32_t>(r.column_int(8));
        v.due.push_back(std::move(d));
      }
      if (rc != SQLITE_DONE)
        throw SqliteError{sqlite3_errmsg(db)};
    }
    for (std::size_t i = 0; i < v.due.size(); ++i) {
      Run w(claim_vote);
      w.text(1, subjects[i]);
      w.text(2, v.due[i].user);
      // Past the time asked about: never handed out again by this same call's `now`.
      w.integer(3, std::max(v.lease_until, op.until + 1));
      w.text(4, v.token);
      step_done(w);
    }
    return;
  }
  case Op::next_due: {
    Run r(first_due);
    if (r.step() != SQLITE_ROW)
      throw SqliteError{sqlite3_errmsg(db)};
    op.found = !r.column_null(0);
    op.until = op.found ? r.column_int(0) : 0;
    return;
  }
  case Op::finish: {
    Run w(v.delivered ? vote_delivered : vote_retry);
    w.text(1, v.subject);
    w.text(2, v.user);
    w.text(3, v.token);
    w.integer(4, v.expires_at);
    if (!v.delivered)
      w.integer(5, v.retry_at);
    step_done(w);
    return;
  }
  default: return;
  }
}

/// Answers a batch's vote reads (record and finish are kept for the next batch when it failed).
void SqliteStore::Impl::finish_vote(Op& op, const std::string& error) {
  VoteOp& v = *op.vote;
  try {
    switch (op.kind) {
    case Op::find: v.found(error.empty() ? std::move(v.record) : std::nullopt, error.empty()); break;
    case Op::subjects:
      v.listed(error.empty() ? std::move(v.subjects) : std::vector<VoteSubject>{}, error.empty());
      break;
    case Op::take_due: op.mark->finish(std::nullopt, error); break;
    case Op::next_due:
      op.mark->finish(error.empty() && op.found ? std::optional(op.until) : std::nullopt, error);
      break;
    default: break;
    }
  } catch (const std::exception& e) {
    report(std::string("a vote book answer threw: ") + e.what());
  } catch (...) {
    report("a vote book answer threw");
  }
}

} // namespace topgg
