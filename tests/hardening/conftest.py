"""The hardening matrix: bad inputs that must be clear errors, faults that must be survived.

One module per service; every test here failed before its fix (issue 11).
"""
