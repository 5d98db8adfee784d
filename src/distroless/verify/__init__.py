"""Knowing what is inside an image: the policy check, structure tests and the SBOM.

Everything here reads an image as it is stored (its config and layer blobs) without
running or extracting it; only command tests need the runtime sandbox.
"""
