#!/bin/sh
# The README's "Trying it by hand", as one script: curl and sed only (no Python, no browser, no jq).
#
#   make run                                    # in one terminal; it prints LB_KEY
#   LB_KEY=lbk_... sh docs/examples/try_it.sh   # in another
#
# A bakery on Visma eAccounting: create a connection, connect it through the simulator's sign-in
# (the browser's steps done with curl and a cookie jar), test it, save the account setup and the
# schedule, push a Z-report, transfer it now and read the export log until it is booked.
# LB_LOCAL_PORT moves the whole local stack (make run's gateway port); LB_URL overrides the URL.
set -eu

: "${LB_KEY:?set LB_KEY to the tenant key make run printed}"
LB_URL="${LB_URL:-http://127.0.0.1:${LB_LOCAL_PORT:-8100}}"
HERE="$(cd "$(dirname "$0")" && pwd)"
JAR="$(mktemp)"
trap 'rm -f "$JAR"' EXIT

api() {  # api METHOD PATH [JSON-FILE]: the answer's body; fails on any status >= 400
  if [ $# -ge 3 ]; then
    curl -sS --fail-with-body -X "$1" "$LB_URL$2" -H "Authorization: Bearer $LB_KEY" \
         -H "Content-Type: application/json" --data-binary "@$3"
  else
    curl -sS --fail-with-body -X "$1" "$LB_URL$2" -H "Authorization: Bearer $LB_KEY"
  fi
}
field() {  # field NAME: the first string value of "NAME" in the JSON on stdin
  sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1
}

echo "1. create a connection"
CONNECTION=$(api POST /connections "$HERE/bakery_connection.json" | field connection_id)
echo "   connection $CONNECTION"

echo "2. connect: the sign-in a browser would do (confirm, log in at the vendor, allow, come back)"
CONNECT_URL=$(api POST "/connections/$CONNECTION/connect" | field connect_url)
TICKET=${CONNECT_URL#*ticket=}
curl -sS -c "$JAR" -b "$JAR" -o /dev/null "$CONNECT_URL"
AUTHORIZE_URL=$(curl -sS -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' \
                     --data-urlencode "ticket=$TICKET" "${CONNECT_URL%%\?*}")
# The vendor's sign-in form posts back the authorize request's own parameters (already URL-encoded).
CALLBACK_URL=$(curl -sS -o /dev/null -w '%{redirect_url}' \
                    --data "${AUTHORIZE_URL#*\?}&username=demo%40bakery.example&password=demo-password&consent=yes" \
                    "${AUTHORIZE_URL%%\?*}")
curl -sS -c "$JAR" -b "$JAR" "$CALLBACK_URL" | sed -n 's/.*<title>\([^<]*\)<\/title>.*/   \1/p'

echo "3. test the integration"
api POST "/connections/$CONNECTION/check"; echo

echo "4. account setup (checked against the company's chart and VAT codes) and schedule"
api PUT "/connections/$CONNECTION/account-setup" "$HERE/bakery_account_setup.json" > /dev/null
api PUT "/connections/$CONNECTION/schedule" "$HERE/bakery_schedule.json"; echo

echo "5. push a Z-report (201 new; the same again would be 200, changed content 409)"
api POST "/connections/$CONNECTION/settlements" "$HERE/z_report_bakery.json" | field state; echo

echo "6. transfer now"
api POST "/connections/$CONNECTION/transfers"; echo

echo "7. export log, until the settlement is booked"
for _ in $(seq 1 60); do
  LOG=$(api GET "/connections/$CONNECTION/documents")
  STATE=$(printf '%s' "$LOG" | field state)
  [ "$STATE" = booked ] || [ "$STATE" = failed ] && break
  sleep 1
done
printf '%s\n' "$LOG"
[ "$STATE" = booked ] || { echo "not booked: $STATE" >&2; exit 1; }
echo "booked as voucher $(printf '%s' "$LOG" | field vendor_document_number) in eAccounting"
