#!/bin/sh
# The example's test stage: prints as it goes; FAIL=1 makes it fail.
echo "testing $FRIDAY_SERVICE $FRIDAY_FROM_VERSION..$FRIDAY_TO_VERSION ($FRIDAY_FROM_COMMIT..$FRIDAY_TO_COMMIT)"
for suite in unit integration contract; do
  sleep 0.4
  echo "$suite: ok"
done
if [ "${FAIL:-0}" = 1 ]; then
  echo "contract: checkout.v2 expects field 'currency'" >&2
  echo "3 passed, 1 failed"
  exit 1
fi
echo "4 passed"
