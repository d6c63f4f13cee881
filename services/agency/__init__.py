"""A department's case-system stand-in (hệ thống chuyên ngành): the part a vendor replaces."""
