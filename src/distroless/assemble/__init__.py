"""From layers and a config to an image in the store: the one place images are put together."""
