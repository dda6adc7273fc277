// The vote book's rules (streaks, status) and MemoryStore's vote ledger.
#include "topgg/vote_ledger.hpp"

#include <algorithm>

#include "memory_votes.hpp"

namespace topgg {

std::string_view to_string(VoteSubject::Kind k) noexcept {
  switch (k) {
  case VoteSubject::Kind::project: return "project";
  case VoteSubject::Kind::bot: return "bot";
  case VoteSubject::Kind::guild: return "guild";
  }
  return "project";
}

RecordedVote record_vote(const std::optional<VoteRecord>& previous, const VoteEntry& vote, std::chrono::seconds grace) {
  RecordedVote out;
  if (!previous) {
    out.record = {vote.route, vote.voted_at, vote.expires_at, vote.weight, 1, 1};
    out.newest = true;
    return out;
  }
  out.record = *previous;
  ++out.record.count;
  if (vote.voted_at < previous->voted_at)
    return out; // older than the latest: caught up late, it changes nothing else
  const bool continues = vote.voted_at <= previous->expires_at + std::max(grace, std::chrono::seconds(0));
  out.record.route = vote.route;
  out.record.voted_at = vote.voted_at;
  out.record.expires_at = vote.expires_at;
  out.record.weight = vote.weight;
  out.record.streak = continues ? previous->streak + 1 : 1;
  out.newest = true;
  return out;
}

VoteStatus status_of(const std::optional<VoteRecord>& record, std::chrono::system_clock::time_point now,
                     std::chrono::seconds grace) {
  VoteStatus s;
  if (!record)
    return s;
  s.voted = record->expires_at > now;
  s.voted_at = record->voted_at;
  s.expires_at = record->expires_at;
  s.weight = record->weight;
  s.count = record->count;
  s.streak = now <= record->expires_at + std::max(grace, std::chrono::seconds(0)) ? record->streak : 0;
  return s;
}

VoteLedger::~VoteLedger() = default;

// ---- names -----------------------------------------------------------------

namespace detail {

namespace {

bool plain(unsigned char c) noexcept { return c != '/' && c != '%' && c > 0x20 && c < 0x7f; }

void append_escaped(std::string& out, std::string_view part) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (std::all_of(part.begin(), part.end(), [](char c) { return plain(static_cast<unsigned char>(c)); }))
    return void(out.append(part)); // IDs are digits: nothing to escape
  for (unsigned char c : part) {
    if (!plain(c)) {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool unescape(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '/')
      return false;
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size())
      return false;
    const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

} // namespace

std::string subject_text(const VoteSubject& s) {
  std::string out(to_string(s.kind));
  out.push_back('/');
  append_escaped(out, s.id);
  return out;
}

bool parse_subject_text(std::string_view text, VoteSubject& out) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return false;
  const std::string_view kind = text.substr(0, slash);
  if (kind == "project")
    out.kind = VoteSubject::Kind::project;
  else if (kind == "bot")
    out.kind = VoteSubject::Kind::bot;
  else if (kind == "guild")
    out.kind = VoteSubject::Kind::guild;
  else
    return false;
  return unescape(text.substr(slash + 1), out.id);
}

std::string vote_member(const VoteSubject& s, std::string_view user) {
  std::string out;
  out.reserve(8 + s.id.size() + user.size());
  out.append(to_string(s.kind)).push_back('/');
  append_escaped(out, s.id);
  out.push_back('/');
  append_escaped(out, user);
  return out;
}

bool parse_vote_member(std::string_view member, VoteSubject& subject, std::string& user) {
  const auto last = member.rfind('/');
  if (last == std::string_view::npos)
    return false;
  return parse_subject_text(member.substr(0, last), subject) && unescape(member.substr(last + 1), user);
}

} // namespace detail

// ---- MemoryStore's ledger --------------------------------------------------

void MemoryStore::Votes::unschedule(Entry& e) {
  if (e.owed)
    by_due.erase({e.due, &e});
  e.owed = false;
}

void MemoryStore::Votes::schedule(Entry& e, v1::Timestamp due) {
  unschedule(e);
  e.owed = true;
  e.due = due;
  by_due.emplace(due, &e);
}

void MemoryStore::Votes::record(std::string_view key, Now now, std::chrono::milliseconds ttl, const VoteEntry& vote,
                                std::chrono::seconds grace) {
  if (!key.empty() && !store.confirm_once(key, now, ttl))
    return; // confirmed before: this vote is recorded already
  std::string name = detail::vote_member(vote.subject, vote.user);
  std::lock_guard lock(m);
  auto it = entries.find(name);
  std::optional<VoteRecord> previous;
  if (it != entries.end())
    previous = it->second.record;
  else if (std::find(known.begin(), known.end(), vote.subject) == known.end())
    known.push_back(vote.subject);
  RecordedVote r = record_vote(previous, vote, grace);
  if (it == entries.end())
    it = entries.emplace(std::move(name), Entry{vote.subject, vote.user, {}, false, {}, 0, {}}).first;
  Entry& e = it->second;
  e.record = std::move(r.record);
  if (r.newest) { // its expiry replaces the one owed (claimed or being retried too)
    e.attempts = 0;
    e.token.clear();
    schedule(e, e.record.expires_at);
  }
}

void MemoryStore::Votes::find(const VoteSubject& subject, std::string_view user,
                              std::function<void(std::optional<VoteRecord>, bool)> done) {
  std::optional<VoteRecord> found;
  {
    std::lock_guard lock(m);
    if (auto it = entries.find(detail::vote_member(subject, user)); it != entries.end())
      found = it->second.record;
  }
  done(std::move(found), true);
}

void MemoryStore::Votes::subjects(std::function<void(std::vector<VoteSubject>, bool)> done) {
  std::vector<VoteSubject> list;
  {
    std::lock_guard lock(m);
    list = known;
  }
  done(std::move(list), true);
}

std::vector<DueExpiry> MemoryStore::Votes::take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                                    std::string_view token) {
  std::vector<DueExpiry> out;
  std::lock_guard lock(m);
  while (out.size() < limit && !by_due.empty() && by_due.begin()->first <= now) {
    Entry& e = *by_due.begin()->second;
    out.push_back({e.subject, e.user, e.record, e.attempts});
    e.token.assign(token);
    schedule(e, std::max(lease_until, e.due + std::chrono::microseconds(1))); // moves it off `now`
  }
  return out;
}

std::optional<v1::Timestamp> MemoryStore::Votes::next_due() {
  std::lock_guard lock(m);
  if (by_due.empty())
    return std::nullopt;
  return by_due.begin()->first;
}

void MemoryStore::Votes::finish(const DueExpiry& d, std::string_view token, bool delivered, v1::Timestamp retry_at) {
  const std::string name = detail::vote_member(d.subject, d.user);
  std::lock_guard lock(m);
  auto it = entries.find(name);
  if (it == entries.end())
    return;
  Entry& e = it->second;
  if (!e.owed || e.token != token || e.record.expires_at != d.record.expires_at)
    return; // a newer vote replaced it, or another claim holds it now
  e.token.clear();
  if (delivered) {
    e.attempts = 0;
    unschedule(e);
  } else {
    ++e.attempts;
    schedule(e, retry_at);
  }
}

} // namespace topgg
