"""Small remote network driver plugins shipped for testing drivers and the kit.

Separate programs: they speak Docker's remote driver protocol and use iproute2, and
import nothing from the rest of the package.
"""
