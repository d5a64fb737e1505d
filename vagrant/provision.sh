#!/usr/bin/env bash
# Provisioning of one lab box: the same node setup as lab/nodefiles.py does for nspawn.
#   provision.sh NODE REPO "n1=ADDR,n2=ADDR,..."
set -euo pipefail
node=$1 repo=$2 nodes=$3
here=$repo/vagrant
secrets=$here/.lab

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    pacemaker pacemaker-cli-utils corosync resource-agents \
    python3 python3-venv python3-dev gcc pkg-config libsystemd-dev \
    openssh-server openssh-client psmisc lsof procps libxml2-utils iputils-ping e2fsprogs \
    python3-click python3-jinja2 python3-lxml python3-pyroute2 python3-pystemd

# /etc/hosts: every lab name, as on the nspawn nodes.
sed -i '/# s2s-sd lab$/d' /etc/hosts
sed -i "/^127\.0\.[01]\.1[[:space:]].*\b${node}\b/d" /etc/hosts  # no loopback alias for us
IFS=, read -ra pairs <<< "$nodes"
for pair in "${pairs[@]}"; do
    printf '%s\t%s # s2s-sd lab\n' "${pair#*=}" "${pair%%=*}" >> /etc/hosts
done
printf '192.168.77.100\tclient # s2s-sd lab\n' >> /etc/hosts

# s2s-sd: the package when `make deb` built one (dist/s2s-sd_*_all.deb, installed with apt
# from the local file, as on real hosts), else the synced working tree in a venv made with
# Debian's python3 (as on the host of the nspawn lab; editable: `vagrant rsync` brings
# changes without reprovisioning).
debs=("$repo"/dist/s2s-sd_*_all.deb)
if [ -f "${debs[-1]}" ]; then
    apt-get install -y -q --no-install-recommends "${debs[-1]}"
    rm -f /usr/local/bin/s2s-sd  # a venv link of an earlier provisioning would shadow it
else
    if [ ! -x /opt/s2s-sd/bin/s2s-sd ]; then
        python3 -m venv /opt/s2s-sd
        /opt/s2s-sd/bin/pip install -q --upgrade pip
    fi
    /opt/s2s-sd/bin/pip install -q -e "$repo"
    ln -sfn /opt/s2s-sd/bin/s2s-sd /usr/local/bin/s2s-sd
fi

# OpenSSH: the lab root key, this node's host key, every node's host key known.
install -m 600 "$secrets/${node}_ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 644 "$secrets/${node}_ssh_host_ed25519_key.pub" /etc/ssh/ssh_host_ed25519_key.pub
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nUseDNS no\n' \
    > /etc/ssh/sshd_config.d/lab.conf
: > /etc/ssh/ssh_known_hosts
for pair in "${pairs[@]}"; do
    name=${pair%%=*} address=${pair#*=}
    read -r type key _ < "$secrets/${name}_ssh_host_ed25519_key.pub"
    printf '%s,%s %s %s\n' "$name" "$address" "$type" "$key" >> /etc/ssh/ssh_known_hosts
done
install -d -m 700 /root/.ssh
install -m 600 "$secrets/id_ed25519" /root/.ssh/id_ed25519
install -m 644 "$secrets/id_ed25519.pub" /root/.ssh/id_ed25519.pub
install -m 600 "$secrets/id_ed25519.pub" /root/.ssh/authorized_keys
systemctl restart ssh

# corosync + Pacemaker: the lab's corosync.conf and its lab-only CIB (stonith-enabled=false,
# dc-deadtime=2s), seeded once before Pacemaker's first start.
install -m 644 "$here/corosync.conf" /etc/corosync/corosync.conf
install -m 400 "$secrets/authkey" /etc/corosync/authkey
if [ ! -e /var/lib/s2s-sd-lab-cib-seeded ]; then
    systemctl stop pacemaker corosync || true
    rm -f /var/lib/pacemaker/cib/cib*
    install -m 600 -o hacluster -g haclient "$here/cib.xml" /var/lib/pacemaker/cib/cib.xml
    touch /var/lib/s2s-sd-lab-cib-seeded
fi
systemctl enable corosync pacemaker
systemctl restart corosync
systemctl start pacemaker
