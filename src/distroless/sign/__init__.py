"""Signatures and attestations in the formats the sigstore tools read.

Pure building blocks, no I/O: cosign keys (:mod:`.keys`), the simple-signing payload
(:mod:`.simplesigning`), cosign's signature manifests and referrers (:mod:`.cosign_layout`),
DSSE envelopes (:mod:`.dsse`), SLSA provenance statements (:mod:`.provenance`) and their
referrer manifests (:mod:`.attestation`).  Registries, the store and the CLI use them.

Over the store: signing and verifying stored images (:mod:`.local`) and the image policy of
the user's config (:mod:`.policy`, :func:`~distroless.sign.policy.check_image_policy`).
"""
