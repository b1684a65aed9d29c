#!/bin/sh
# Runs before the service starts (000: setup-certs.sh). Mode 0644 in the
# repository on purpose, as after a Windows checkout (000, P5): the transfer
# restores the exec bit of every *.sh.
set -eu
. /opt/app/app.env
install -d -m 0755 /opt/app/site
echo "setup for release $APP_RELEASE" > /opt/app/setup.log
