"""Check kinds: one module per kind (or family of kinds), registered in imgconf.checks.registry."""
