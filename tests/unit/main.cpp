// The unit tests' main. meson runs this program more than once with
// --source-file filters (a shard per test, see meson.build): a filter that
// matches nothing — a file renamed, a pattern mistyped — must fail, not pass
// having tested nothing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

unsigned ran = 0; // test cases that passed the filters in the last run

// A listener (always active, whatever the reporter) that keeps the count.
struct CountRun : doctest::IReporter {
  explicit CountRun(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override { ran = stats.numTestCasesPassingFilters; }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

} // namespace

REGISTER_LISTENER("count-run", 1, CountRun);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int rc = context.run();
  if (context.shouldExit()) // --help, --list-test-cases, --count, ...
    return rc;
  if (rc == 0 && ran == 0) {
    std::fputs("no test case passed the filters: nothing was tested\n", stderr);
    return 1;
  }
  return rc;
}
