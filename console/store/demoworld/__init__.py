"""Word lists for the synthetic demo world (names, trade names, roads, parks)."""
