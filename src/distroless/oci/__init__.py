"""The OCI image model: digests, descriptors, manifests, indexes, configs and references.

Everything here is pure: values in, values out.  JSON produced by these models is
canonical (sorted keys, compact separators) so that the same image always has the same
digest.
"""
