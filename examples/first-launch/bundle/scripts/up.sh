#!/bin/sh
# Deploys the verified artifacts (000: docker compose up -d).
set -eu
. /opt/app/app.env
for f in $(cat /opt/app/images.list); do install -m 0644 "/opt/app/images/$f" "/opt/app/site/$f"; done
ln -sfn index.html /opt/app/site/latest.html
