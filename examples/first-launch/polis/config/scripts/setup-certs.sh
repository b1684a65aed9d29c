#!/bin/sh
# polis.service's ExecStartPre (000). Mode 0644 here, like after a Windows
# checkout (000, P5): the transfer restores its exec bit.
set -eu
install -d -m 0750 /opt/polis/certs
