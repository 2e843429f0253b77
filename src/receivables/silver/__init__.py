"""Silver: typed, validated, de-duplicated current state per key."""
