"""Test infrastructure shared by the test tiers (not part of the product)."""
