#!/usr/bin/env bash
# Multi-cloud Packer, offline: one provider-neutral config (ingot-packer.yaml)
# → a packer template per cloud (AWS, Azure, GCP, OCI, Alibaba) with
# `ingot packer init`, each checked by the real `packer validate` through
# `ingot packer validate`. No cloud account is used: the account ids and keys
# that some builders insist on even for validation are test placeholders made
# here, never written into the templates. See README.md beside this file.
source "$(dirname "$0")/../lib.sh"
need packer
need openssl

here=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"
cp -r "$here/ingot-packer.yaml" "$here/scripts" .

say "Generate one template per cloud from the same config"
for cloud in aws azure gcp oci alibaba; do
  show ingot packer init --cloud "$cloud" --config ingot-packer.yaml --out "build/$cloud"
done
show ls -R build/aws

say "Placeholders for validation only (GCP project, OCI account and API key, Alibaba keys)"
mkdir -p oci
openssl genrsa -traditional -out oci/key.pem 2048 2> /dev/null
cat > oci/config << OCI
[DEFAULT]
user=ocid1.user.oc1..aaaaaaaaexample
fingerprint=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff
tenancy=ocid1.tenancy.oc1..aaaaaaaaexample
region=eu-frankfurt-1
key_file=$WORK/oci/key.pem
OCI
declare -A vars=(
  [aws]=''
  [azure]=''
  [gcp]='--var project_id=example-project'
  [oci]="--var oci_config_file=$WORK/oci/config --var compartment_ocid=ocid1.compartment.oc1..aaaaaaaaexample --var subnet_ocid=ocid1.subnet.oc1..aaaaaaaaexample --var availability_domain=Uocm:EU-FRANKFURT-1-AD-1 --var base_image_ocid=ocid1.image.oc1..aaaaaaaaexample"
  [alibaba]=''
)

say "packer validate each template (offline; packer's checks, ingot's file:line diagnostics)"
for cloud in aws azure gcp oci alibaba; do
  # shellcheck disable=SC2086 # the variables are words on purpose
  ALICLOUD_ACCESS_KEY=example ALICLOUD_SECRET_KEY=example HOME="$WORK" \
    show ingot packer validate "build/$cloud" ${vars[$cloud]}
done

say "The templates carry no placeholder and no credential"
if grep -rlE 'example-project|ocid1\.|BEGIN RSA|ALICLOUD_SECRET_KEY = "' build; then
  echo "a placeholder leaked into a template" >&2
  exit 1
fi
grep -h 'scripts/custom' build/*/image.pkr.hcl | sort -u

say "done: five templates from one config, each valid for packer $(packer version | head -n 1)"
