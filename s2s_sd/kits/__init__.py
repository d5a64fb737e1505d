"""Service kits: `layout` holds the rules (pure, in the core), `runner` runs a member's
kits on this host, `tree` is the /service tree here (relocate and link on this host),
`relocate` the admin side across hosts (who holds a service, a relocation under the admin
lock, the other hosts' links). Their host side is agent/kits_ops.py, in the one table of
operations every host answers."""
