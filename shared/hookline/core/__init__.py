"""Pure, dependency-free building blocks shared by all Hookline services."""
