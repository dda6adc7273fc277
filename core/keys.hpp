// Internal: what identifies a delivery, for de-duplication. One overload per
// event type; false means the event is never de-duplicated.
#pragma once

#include <string>
#include <string_view>

#include "topgg/v1.hpp"
#include "topgg/votes.hpp"

namespace topgg::detail {

/// Legacy votes: route + bot (or guild) + user + type, within Settings::dedup_ttl;
/// a `type: test` vote (the dashboard's Test button) never.
bool dedup_key(const BotVote& v, std::string_view route, std::string& key);
bool dedup_key(const ServerVote& v, std::string_view route, std::string& key);
/// vote.create: route + project + the voter's Top.gg user ID + created_at to
/// the second — what the vote history API gives too, so caught-up votes
/// delivered through the same route match.
bool dedup_key(const v1::VoteCreate& v, std::string_view route, std::string& key);
/// webhook.test: never (pressing Test twice shows twice).
inline bool dedup_key(const v1::WebhookTest&, std::string_view, std::string&) { return false; }
/// integration.*: none (each is an idempotent change of one connection; see keys.cpp).
bool dedup_key(const v1::IntegrationCreate& v, std::string_view route, std::string& key);
bool dedup_key(const v1::IntegrationDelete& v, std::string_view route, std::string& key);

} // namespace topgg::detail
