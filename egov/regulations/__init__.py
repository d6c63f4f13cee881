"""Pure rules taken from Vietnamese regulations, each module citing its source. No I/O, no clock reads.

Shared by the HTTP edge (portal) and the event consumers (onestop, …) so a rule is written once.
"""
