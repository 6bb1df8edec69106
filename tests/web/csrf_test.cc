#include "client/web/csrf.h"

#include "base/random.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::client::web {
namespace {

TEST(CsrfGuardTest, AcceptsOnlyTheTokenOfTheNonce) {
  ASSERT_OK_AND_ASSIGN(auto guard, CsrfGuard::Create(RandomSource::Secure()));
  ASSERT_OK_AND_ASSIGN(CsrfGuard::Pair a, guard->Issue(RandomSource::Secure()));
  ASSERT_OK_AND_ASSIGN(CsrfGuard::Pair b, guard->Issue(RandomSource::Secure()));
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_TRUE(guard->Check(a.nonce, a.token));
  EXPECT_EQ(guard->TokenFor(a.nonce), a.token);
  EXPECT_FALSE(guard->Check(a.nonce, b.token));
  EXPECT_FALSE(guard->Check(b.nonce, a.token));
  EXPECT_FALSE(guard->Check(a.nonce, ""));
  EXPECT_FALSE(guard->Check("", a.token));
  std::string flipped = a.token;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(guard->Check(a.nonce, flipped));
  EXPECT_FALSE(guard->Check(a.nonce, a.token + "x"));
}

TEST(CsrfGuardTest, AnotherGuardsTokensAreRefused) {
  ASSERT_OK_AND_ASSIGN(auto one, CsrfGuard::Create(RandomSource::Secure()));
  ASSERT_OK_AND_ASSIGN(auto two, CsrfGuard::Create(RandomSource::Secure()));
  ASSERT_OK_AND_ASSIGN(CsrfGuard::Pair p, one->Issue(RandomSource::Secure()));
  EXPECT_FALSE(two->Check(p.nonce, p.token));
}

TEST(CsrfGuardTest, TheKeyComesFromTheInjectedRandomness) {
  FakeRandom fixed(7), same(7), other(8);
  ASSERT_OK_AND_ASSIGN(auto one, CsrfGuard::Create(fixed));
  ASSERT_OK_AND_ASSIGN(auto two, CsrfGuard::Create(same));
  ASSERT_OK_AND_ASSIGN(auto three, CsrfGuard::Create(other));
  EXPECT_EQ(one->TokenFor("nonce"), two->TokenFor("nonce"));
  EXPECT_NE(one->TokenFor("nonce"), three->TokenFor("nonce"));
  EXPECT_FALSE(one->TokenFor("nonce").empty());
}

TEST(CookieValueTest, FindsTheNamedCookie) {
  EXPECT_EQ(CookieValue("a=1; td_csrf=xyz; b=2", "td_csrf"), "xyz");
  EXPECT_EQ(CookieValue("td_csrf=xyz", "td_csrf"), "xyz");
  EXPECT_EQ(CookieValue("xtd_csrf=1", "td_csrf"), "");
  EXPECT_EQ(CookieValue("", "td_csrf"), "");
}

}  // namespace
}  // namespace token_authority::client::web
