#!/bin/sh
# The service answers with the release it was deployed with.
set -eu
. /opt/app/app.env
python3 - "$APP_RELEASE" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:8080/version.txt", timeout=5).read().decode()
assert body.strip() == sys.argv[1], f"serving {body.strip()!r}, expected {sys.argv[1]!r}"
print("healthy:", body.strip())
PY
