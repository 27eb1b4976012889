#!/bin/sh
# Seal the converged root (argument: its directory) so every server made from the image is its own:
# nothing that identifies, authenticates or logged the build host stays behind. First boot
# (vanban-firstboot) creates what is removed here. tests/test_image.py checks the result on the
# built image's file system.
set -eu
root=${1:?usage: seal.sh ROOT}
[ -x "$root/usr/local/sbin/vanban-firstboot" ] || { echo "seal: $root has no first-boot program" >&2; exit 1; }
cd "$root"

# Identity: SSH host keys, machine id (empty file: systemd makes one at boot), random seeds.
rm -f etc/ssh/ssh_host_*
: > etc/machine-id
rm -f var/lib/dbus/machine-id var/lib/systemd/random-seed var/lib/systemd/credential.secret
printf 'vanban\n' > etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 vanban\n::1 localhost ip6-localhost ip6-loopback\n' > etc/hosts

# Build-time access: the lab's key and network, the apt proxy, Ansible's leftovers.
rm -rf root/.ssh root/.ansible root/.cache home/*/.ssh home/*/.ansible home/*/.cache
rm -f etc/systemd/network/10-lab.network etc/apt/apt.conf.d/01vanban-lab-proxy
rm -f etc/systemd/system/systemd-networkd-wait-online.service.d/10-vanban-image-build.conf
rmdir etc/systemd/system/systemd-networkd-wait-online.service.d 2>/dev/null || true

# Secrets the roles had to create: the TLS key and certificate signed by the build's provisional CA,
# and the database (first boot runs `vanban init` and creates the seed's agencies).
rm -f etc/vanban/tls/server.key etc/vanban/tls/server.crt etc/vanban/tls/ca.crt
find var/lib/vanban -mindepth 1 -delete 2>/dev/null || true
rm -f var/lib/vanban-firstboot/* 2>/dev/null || true

# Monitoring data recorded while converging (series labelled with the build host, Alertmanager state):
# each server starts its own. The directories stay (owner prometheus, made by the monitoring role).
for dir in var/lib/prometheus/local var/lib/prometheus/fleet var/lib/prometheus/alertmanager var/lib/prometheus/metrics2; do
    if [ -d "$dir" ]; then find "$dir" -mindepth 1 -delete; fi
done
# The textfile metrics the build's runs wrote (the build's provisional certificate, removed above; its
# signatures): the server's own are written at its first boot, two minutes in (vanban-textfile-metrics.timer).
rm -f var/lib/prometheus/node-exporter/*.prom

# The firewall: the build network was the admin network while converging; a sealed image lets
# nobody in until first boot renders this server's rules (same role template, no networks).
VANBAN_FIRSTBOOT_LIB="$root/usr/local/lib/vanban-firstboot" "${PYTHON:-python3}" \
    "$root/usr/local/sbin/vanban-firstboot" sealed-firewall "$root/etc/nftables.conf"

# Logs and history: journal, apt/dpkg logs, every file under /var/log emptied or removed.
rm -rf var/log/journal/* root/.bash_history root/.python_history root/.lesshst home/*/.bash_history
find var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find var/log -type f -exec truncate -s 0 {} +
rm -f var/lib/systemd/timers/stamp-* var/lib/dhcp/*.leases var/lib/systemd/network/*
rm -rf var/lib/systemd/coredump/* var/lib/private/systemd/* 2>/dev/null || true

# Caches and scratch: downloaded packages, pip caches, temporary files.
rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin tmp/* var/tmp/* var/cache/debconf/*-old
rm -rf var/backups/*.gz var/lib/apt/lists/partial/*
echo "sealed $root"
