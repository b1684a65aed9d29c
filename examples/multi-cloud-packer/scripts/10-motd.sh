#!/bin/sh
# A team-specific step, copied into the template as scripts/custom/01-10-motd.sh.
set -eu
printf 'Team base image, built by ingot. Questions: #platform\n' > /etc/motd
