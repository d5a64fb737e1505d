"""Service kits: `layout` holds the rules (pure), `runner` runs a member's kits on this
host, `tree` is the /service tree here (relocate, link)."""
