#include <catch2/catch.hpp>

#include "ticketing/auth/hold_receipt.hpp"

using ticketing::auth::HoldClaims;
using ticketing::auth::HoldReceipts;

TEST_CASE("a hold receipt verifies with the secret that signed it and says what was signed") {
  HoldReceipts receipts("receipt-secret");
  HoldClaims c{1234, 42, 7, 21, 150000, 1'800'000'000'000};
  auto r = receipts.sign(c);
  CHECK(r.rfind("h1.1234.42.7.21.150000.1800000000000.", 0) == 0);
  auto back = receipts.verify(r);
  REQUIRE(back.has_value());
  CHECK(*back == c);
}

TEST_CASE("a hold receipt that was altered, re-signed elsewhere or malformed is refused") {
  HoldReceipts receipts("receipt-secret");
  auto r = receipts.sign({1234, 42, 7, 21, 150000, 1'800'000'000'000});
  CHECK_FALSE(HoldReceipts("other-secret").verify(r));
  auto cheaper = r;
  cheaper.replace(cheaper.find(".150000."), 8, ".100000.");
  CHECK_FALSE(receipts.verify(cheaper));
  auto other_user = r;
  other_user.replace(other_user.find(".42."), 4, ".43.");
  CHECK_FALSE(receipts.verify(other_user));
  auto padded = r;
  padded.replace(padded.find(".42."), 4, ".042.");
  CHECK_FALSE(receipts.verify(padded));  // not canonical
  CHECK_FALSE(receipts.verify(""));
  CHECK_FALSE(receipts.verify("h1.1.2.3.4.5.6"));
  CHECK_FALSE(receipts.verify("h1.1.2.3.4.5.6.7.8"));
  CHECK_FALSE(receipts.verify("h1.-1.2.3.4.5.6.sig"));
  CHECK_FALSE(receipts.verify(std::string(300, 'h')));
  // A queue token's signature is not a receipt's.
  CHECK_FALSE(
      receipts.verify("v1.1234.42.7.21.150000.1800000000000." + r.substr(r.rfind('.') + 1)));
}
