#!/bin/sh
# Pulls the release artifacts from $ARTIFACTS_URL (000: docker compose pull).
set -eu
: "${ARTIFACTS_URL:?launch with --env ARTIFACTS_URL=http://HOST:PORT}"
for f in $(cat /opt/app/images.list); do
  python3 - "$ARTIFACTS_URL/$f" "/opt/app/images/$f" <<'PY'
import sys, urllib.request
url, dest = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=20) as r, open(dest, "wb") as out:
        out.write(r.read())
except OSError as e:
    sys.exit(f"pull: {url}: {getattr(e, 'reason', e)}")
PY
done
echo "pulled $(wc -l < /opt/app/images.list) artifact(s) from $ARTIFACTS_URL"
