# A stand-in for your real template (a qemu or cloud builder): packer's null
# builder runs a local script that writes a raw disk, so the pipeline can be
# tried wherever packer runs. Replace it with yours and keep
# source.artifact in images/images.yaml pointing at the file it writes.
variable "disk_size_mib" {
  type    = number
  default = 4
}

variable "hostname" {
  type    = string
  default = "gateway"
}

source "null" "gateway" {
  communicator = "none"
}

build {
  sources = ["source.null.gateway"]

  provisioner "shell-local" {
    environment_vars = ["SIZE_MIB=${var.disk_size_mib}", "NAME=${var.hostname}"]
    inline = [
      "mkdir -p output",
      "rm -f output/gateway.raw",
      "truncate -s \"$SIZE_MIB\"M output/gateway.raw",
      "printf '%s raw disk\\n' \"$NAME\" | dd of=output/gateway.raw conv=notrunc status=none",
    ]
  }
}
