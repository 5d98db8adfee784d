"""Where images go to and come from: tarballs, OCI layout directories, registries."""
